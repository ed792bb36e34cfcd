"""The one exception type for bad user input: the CLI turns it into `redes: error: ...`, exit 2."""

import difflib


class RedesError(Exception):
    """Bad input from the user (config, data, run directory, checkpoint); the message says what and where, in
    one line (a line break inside, from a key or a file name, becomes "; ")."""

    def __init__(self, message: str = ""):
        super().__init__("; ".join(str(message).splitlines()) if "\n" in str(message) else message)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training after a step; a checkpoint was written so `redes resume` can go on."""

    def __init__(self, run_dir, epoch: int, step: int, checkpointed: bool):
        super().__init__(f"interrupted at epoch {epoch}, step {step}")
        self.run_dir, self.epoch, self.step, self.checkpointed = run_dir, epoch, step, checkpointed


class RedesWarning(FutureWarning):
    """A setting that still works under an old name; the command line shows it as one `redes: warning: ...` line."""


class Diverged(RedesError):
    """The loss became non-finite; the last good weights were kept. A result of a search, not a bug."""


def did_you_mean(name: str, choices) -> str:
    """The hint for a misspelt choice, ` (did you mean 'nearest'?)`, or "" when none is close. Case is ignored
    in the comparison ('Relu' finds 'relu', not 'elu')."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.5)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""
