"""The torch side of a model: activations and losses (one table each), `build_model` and the pre-flight check."""
