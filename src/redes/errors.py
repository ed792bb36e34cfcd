"""The one exception type for bad user input: the CLI turns it into `redes: error: ...`, exit 2."""


class RedesError(Exception):
    """Bad input from the user (config, data, run directory, checkpoint); the message says what and where."""
