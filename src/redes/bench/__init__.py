"""`redes bench`: redes timed against the notebooks' own loops, bare PyTorch and matrix products."""
