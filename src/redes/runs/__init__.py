"""A training run: `train` and `resume` into a run directory, `Run` and `load_run` to use it, its reports and plots."""
