"""Studying networks: sweeps, hyperparameter search, engine comparison, equations, graphs and gradient checks."""
