"""redes in a real Jupyter kernel (nbclient + ipykernel), as a student's notebook runs it."""

from __future__ import annotations

import json

import nbformat
from nbclient import NotebookClient

TRAIN = ("import redes\n"
         "run = redes.train({'model': {'hidden': [16]}, 'train': {'epochs': 2, 'batch_size': 64}}, out='r')")


def _outputs(tmp_path, *cells: str) -> list[list[dict]]:
    """Each cell's outputs, the cells run in order in a fresh kernel whose working directory is `tmp_path`."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return [cell.outputs for cell in notebook.cells]


def _streams(outputs: list[dict], name: str) -> str:
    return "".join(output.get("text", "") for output in outputs if output.get("name") == name)


def test_without_ipywidgets_training_draws_tqdms_text_bar_and_no_warning(tmp_path):
    _, training = _outputs(tmp_path, "import sys; sys.modules['ipywidgets'] = None  # as if not installed", TRAIN)
    err = _streams(training, "stderr")
    assert "\repoch 1/2:   0%|" in err and "| 0/20 [" in err and "step/s]" in err, err
    assert "IProgress" not in err and "Warning" not in err, err
    assert "epoch 2/2  train loss" in _streams(training, "stdout")
    assert (tmp_path / "r/summary.json").is_file()


def test_with_ipywidgets_each_epochs_bar_is_a_widget(tmp_path):
    (training,) = _outputs(tmp_path, TRAIN)
    widgets = [output for output in training if "application/vnd.jupyter.widget-view+json" in output.get("data", {})]
    assert widgets, json.dumps(training)[:2000]
    assert "Warning" not in _streams(training, "stderr")
