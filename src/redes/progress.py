"""Progress bars where a user sees them: tqdm's at a terminal; in Jupyter or Colab its widget (with ipywidgets)
or its text bar (without them, and without tqdm's "IProgress not found" warning); none when the output goes
to a file or a pipe, where the caller prints a line per step of work instead (`bar.disable` says which).
"""

from __future__ import annotations

import importlib.util
import sys
from typing import IO, Optional


def progress_bar(file: Optional[IO[str]] = None, **options):
    """A tqdm bar drawn on `file` (stderr by default); `options` are tqdm's."""
    file = file or sys.stderr
    if in_notebook() and file in (sys.stdout, sys.stderr):
        if importlib.util.find_spec("ipywidgets") is None:  # what tqdm's notebook widget is drawn with
            from tqdm.std import tqdm

            return tqdm(file=file, disable=False, **options)  # Jupyter redraws a line that ends in \r
        from tqdm.notebook import tqdm

        return tqdm(**options)
    from tqdm.std import tqdm

    return tqdm(file=file, disable=None, **options)  # hidden unless `file` is a terminal


def in_notebook() -> bool:
    """Running in a Jupyter (or Colab) kernel, whose output is a notebook's cell."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell" or "google.colab" in sys.modules
