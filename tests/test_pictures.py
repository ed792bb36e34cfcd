"""Pictures for teaching: activations and their derivatives, sample grids, the regression fit."""

from __future__ import annotations

import numpy as np
import pytest

import redes
from redes.config import ACTIVATIONS
from redes.nn.models import activation_curves
from redes.runs.run import _fit_line, _samples

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG and path.stat().st_size > 5000


def test_the_sample_grid_titles_each_image_green_when_right_and_red_when_wrong(monkeypatch, tmp_path):
    """Every image in its place, in one Axes (an Axes per image took matplotlib most of a second)."""
    from redes.runs import plots

    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, layout=True: drawn.append(fig) or path)
    images = np.random.default_rng(0).random((11, 4, 5, 3))
    plots.sample_grid(images, ["cat", "dog"] * 5 + ["frog"], ["cat", "cat"] * 5 + ["frog"], tmp_path / "s.png")
    (ax,) = drawn[0].axes
    assert len(ax.images) == 11 and np.array_equal(ax.images[10].get_array(), images[10])
    assert [t.get_text() for t in ax.texts][:2] == ["cat\n→ cat", "dog\n→ cat"]
    assert [t.get_color() for t in ax.texts] == ["green", "red"] * 5 + ["green"]
    lefts = sorted({image.get_extent()[0] for image in ax.images})
    tops = sorted({image.get_extent()[3] for image in ax.images})
    assert len(lefts) == 8 and len(tops) == 2  # 8 columns, 2 rows
    assert all(b - a >= 5 for a, b in zip(lefts, lefts[1:]))  # side by side, none overlapping (width 5)


def test_activation_curves_have_the_textbook_derivatives():
    curves = activation_curves()
    assert list(curves) == list(ACTIVATIONS)
    x, y, slope = curves["sigmoid"]
    assert np.allclose(slope, y * (1 - y))
    x, y, slope = curves["tanh"]
    assert np.allclose(slope, 1 - y ** 2)
    x, y, slope = curves["relu"]
    assert np.array_equal(slope, (x > 0).astype(float)) and np.array_equal(y, np.maximum(x, 0))


def test_plot_activations_writes_one_png_and_never_overwrites(cli, tmp_path):
    result = cli("plot", "activations")
    assert result.status == 0, result.err
    assert _is_png(tmp_path / "activations.png")
    assert cli("plot", "activations").status == 2
    assert cli("plot", "activations", "--out", "a.png").status == 0 and _is_png(tmp_path / "a.png")


def test_digits_run_draws_samples_with_true_and_predicted_names(digits_run, cli):
    assert _is_png(digits_run.path / "plots" / "samples.png")
    images, true, predicted = _samples(digits_run, "test", digits_run.evaluate("test"), count=16)
    test = digits_run.data.test
    assert images.shape == (16, 8, 8) and images.min() == 0 and images.max() == 1
    assert true == [digits_run.classes[i] for i in test.y[:16].tolist()]
    assert predicted == [digits_run.classes[i] for i in digits_run.evaluate("test").predicted[:16].tolist()]
    (digits_run.path / "plots" / "samples.png").unlink()
    result = cli("plot", digits_run.path)  # `redes plot RUN_DIR` draws them again
    assert result.status == 0 and "samples.png" in result.out and _is_png(digits_run.path / "plots" / "samples.png")
    assert cli("plot", digits_run.path, "--out", "x.png").status == 2


def test_regression_on_one_feature_draws_the_data_and_the_fitted_line(tmp_path):
    config = {"data": {"name": "linear", "val_fraction": 0.0, "test_fraction": 0.2}, "model": {"hidden": []},
              "optimizer": {"name": "sgd", "lr": 0.1}, "train": {"epochs": 200, "batch_size": 80}}
    run = redes.train(config, out=tmp_path / "line", verbose=False)
    assert _is_png(run.path / "plots" / "fit.png") and not (run.path / "plots" / "samples.png").exists()
    points, (x, y) = _fit_line(run)
    assert set(points) == {"train", "test"} and len(points["train"][0]) == 80
    assert np.allclose(y, 1 + 2 * x, atol=0.15)  # the line the data came from


@pytest.mark.parametrize("name", ["tokens"])
def test_non_image_classifiers_draw_no_sample_grid(name, tmp_path):
    config = {"data": {"name": name, "n_samples": 300}, "model": {"embedding": {"vocab": 50, "dim": 4},
                                                                   "hidden": [8]}, "train": {"epochs": 1}}
    run = redes.train(config, out=tmp_path / "run", verbose=False)
    assert sorted(p.name for p in (run.path / "plots").iterdir()) == ["confusion_matrix.png", "learning_curves.png"]


def test_cifar10_samples_are_drawn_in_colour_from_the_channel_major_rows(tmp_path):
    from tests.test_cifar10 import _write_binary

    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n)) for n in [12] * 5 + [16]]
    _write_binary(tmp_path / "cifar-10-batches-bin", batches)
    config = {"data": {"name": "cifar10", "path": str(tmp_path / "cifar-10-batches-bin"), "download": False},
              "model": {"hidden": [8]}, "train": {"epochs": 1}}
    run = redes.train(config, out=tmp_path / "run", verbose=False)
    assert _is_png(run.path / "plots" / "samples.png")
    images, true, _ = _samples(run, "test", run.evaluate("test"), count=16)
    pixels = batches[5][0].astype(float)
    expected = (pixels - pixels.min()) / (pixels.max() - pixels.min())
    assert images.shape == (16, 32, 32, 3)
    assert np.allclose(images, expected.reshape(16, 3, 32, 32).transpose(0, 2, 3, 1), atol=1e-6)
    assert true == [run.classes[i] for i in batches[5][1]]
