"""The training loop (`fit`), what it hands its callbacks, the callbacks redes brings and evaluation of a split."""
