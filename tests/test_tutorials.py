"""The tutorials in docs/ run, start to end, so they never rot.

In each docs/tutorial-*.md, every fenced ```python block runs in one namespace, in order (like a
notebook's cells), and every `redes ...` line of a ```bash block runs through the CLI, in the same
temporary folder. A bash block must exit 0, or the status its info string
names (```bash exit=2); blocks marked `no-run` (CIFAR-10 downloads, Graphviz pictures) and any other
language (```text: printed output) are only shown.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "docs").glob("tutorial-*.md"))
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```$", re.M | re.S)


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(language, info, code) of each fenced block, in order."""
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in FENCE.finditer(text)]


def commands(code: str) -> list[list[str]]:
    """The `redes ...` lines of a shell block as argument lists (comments dropped)."""
    lines = [shlex.split(line, comments=True) for line in code.splitlines()]
    return [words[1:] for words in lines if words and words[0] == "redes"]


def test_every_notebook_has_a_tutorial_and_the_readme_links_them():
    assert [path.name[:12] for path in TUTORIALS] == [f"tutorial-{n}" for n in ("000", "001", "003", "004")]
    readme = (ROOT / "README.md").read_text()
    for path in TUTORIALS:
        assert f"(docs/{path.name})" in readme


def test_the_harness_reads_blocks_and_commands():
    text = "```bash\nredes train --set a=1  # note\nls\n```\n```python\nx = 1\n```\n```bash no-run\nredes x\n```\n"
    assert blocks(text) == [("bash", "", "redes train --set a=1  # note\nls\n"), ("python", "", "x = 1\n"),
                            ("bash", "no-run", "redes x\n")]
    assert commands(blocks(text)[0][2]) == [["train", "--set", "a=1"]]


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs(path, cli, tmp_path):
    namespace: dict = {"__name__": path.stem}
    ran = 0
    for number, (language, info, code) in enumerate(blocks(path.read_text()), 1):
        if "no-run" in info.split():
            continue
        if language == "python":
            exec(compile(code, f"{path.name} block {number}", "exec"), namespace)
            ran += 1
        elif language == "bash":
            expected = int(re.search(r"exit=(\d+)", info).group(1)) if "exit=" in info else 0
            for args in commands(code):
                result = cli(*args)
                assert result.status == expected, f"{path.name} block {number}: redes {shlex.join(args)}\n{result.err}"
                ran += 1
    assert ran >= 5, f"{path.name}: only {ran} blocks or commands ran"
