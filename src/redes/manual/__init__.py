"""Hand-written layers, losses, optimizers and networks: backpropagation without autograd (notebook 000)."""
