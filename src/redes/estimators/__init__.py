"""scikit-learn's MLPClassifier and MLPRegressor, built on redes' models, engines and loop."""

from redes.estimators.mlp import MLPClassifier, MLPRegressor, expected_failed_checks

__all__ = ["MLPClassifier", "MLPRegressor", "expected_failed_checks"]
