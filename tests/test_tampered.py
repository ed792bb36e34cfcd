"""Run directories damaged or edited by hand: each damaged file is named with what is wrong, one line, exit 2;
nothing is trained, evaluated or drawn from it."""

import json
import shutil
import struct

import pytest
import torch

from redes.checkpoint import load_tree, save_tree
from tests.conftest import fast_config, stopped_run
from tests.test_cli import assert_one_line_error


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A digits run stopped after its first epoch (Adam, so the optimizer has per-parameter buffers)."""
    return stopped_run(tmp_path_factory.mktemp("tampered") / "run", fast_config())


@pytest.fixture
def copy(stopped, tmp_path):
    target = tmp_path / "stopped"
    shutil.copytree(stopped, target)
    return target


def _edit_checkpoint(run, edit):
    path = run / "checkpoint.safetensors"
    tree = load_tree(path, "checkpoint")
    edit(tree)
    save_tree(path, tree, "checkpoint")


def _edit_header(path, edit):
    """Rewrite a safetensors file's JSON header (tensor dtypes, shapes, redes metadata) in place."""
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    edit(header)
    packed = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(packed)) + packed + data[8 + size:])


@pytest.mark.parametrize("edit, fragments", [
    (lambda t: t["loop"].update(epoch=-5), ["loop.epoch must be a whole number from 1 to 4", "got -5"]),
    (lambda t: t["loop"].update(epoch=10**18), ["loop.epoch must be a whole number from 1 to 4"]),
    (lambda t: t["loop"].update(step=10**6), ["loop.step must be a whole number from 0 to"]),
    (lambda t: t["loop"].update(generator=t["loop"]["generator"][:100]), ["loop.generator"]),
    (lambda t: t["loop"]["global_rng"].clear(), ["loop.global_rng"]),
    (lambda t: t["loop"]["history"][0].pop("epoch"), ["loop.history[0] must be the metrics of epoch 1"]),
    (lambda t: t["loop"].update(history=[]), ["loop.history must hold one row per epoch done (1), got 0 rows"]),
    (lambda t: t["optimizer"]["state"][0].update(exp_avg=t["optimizer"]["state"][0]["exp_avg"].T.contiguous()),
     ["optimizer state 0.exp_avg has shape (64, 32)", "the parameter (32, 64)"]),
    (lambda t: t["optimizer"]["param_groups"][0].update(lr="fast"), ["param_groups[0].lr must be like 0.001"]),
    (lambda t: t["optimizer"]["state"].update({99: {}}), ["keyed by parameter number, 0 to 3"]),
    (lambda t: t["optimizer"]["state"][1].pop("exp_avg"),
     ["optimizer state 1 must map the names ['exp_avg', 'exp_avg_sq', 'step'] to tensors"]),
    (lambda t: t["optimizer"]["state"].pop(2), ["must hold every parameter's buffers, 0 to 3"]),
    (lambda t: t.pop("optimizer"), ["it must hold model, optimizer and loop"]),
])
def test_a_tampered_checkpoint_is_refused_by_name(cli, copy, edit, fragments):
    metrics = (copy / "metrics.csv").read_text()
    _edit_checkpoint(copy, edit)
    assert_one_line_error(cli("resume", copy), "checkpoint.safetensors: checkpoint does not fit", *fragments)
    assert (copy / "metrics.csv").read_text() == metrics  # nothing was rewritten


def test_checkpoint_metadata_too_deep_or_of_the_wrong_type(cli, copy):
    path = copy / "checkpoint.safetensors"
    _edit_header(path, lambda h: h["__metadata__"].update(redes="[" * 100_000 + "]" * 100_000))
    assert_one_line_error(cli("resume", copy), "checkpoint.safetensors", "without redes metadata")
    _edit_header(path, lambda h: h["__metadata__"].update(redes=json.dumps({"kind": "checkpoint", "tree": 7})))
    assert_one_line_error(cli("resume", copy), "checkpoint.safetensors", "must hold model, optimizer and loop")


@pytest.fixture
def finished(digits_run, tmp_path):
    target = tmp_path / "finished"
    shutil.copytree(digits_run.path, target)
    return target


def _edit_model_meta(run, **changes):
    def edit(header):
        meta = json.loads(header["__metadata__"]["redes"])
        header["__metadata__"]["redes"] = json.dumps(meta | changes)
    _edit_header(run / "model.safetensors", edit)


@pytest.mark.parametrize("changes, fragments", [
    ({"n_in": 10**12}, ["n_in and n_out must be whole numbers"]),
    ({"n_in": -5}, ["n_in and n_out must be whole numbers"]),
    ({"classes": ["a", "b"]}, ["classes must be the names of the 10-output model's classes"]),
    ({"loss": "hinge"}, ["unknown loss 'hinge'"]),
    ({"task": "regression"}, ["task 'regression' does not go with loss 'cross_entropy'"]),
])
def test_tampered_model_metadata_is_refused_by_name(cli, finished, changes, fragments):
    _edit_model_meta(finished, **changes)
    for command in ("eval", "plot"):
        assert_one_line_error(cli(command, finished), "model.safetensors", *fragments)


def test_a_weight_whose_dtype_was_changed_is_refused(cli, finished):
    _edit_header(finished / "model.safetensors", lambda h: h["model.0.weight"].update(dtype="I32"))
    assert_one_line_error(cli("eval", finished), "'0.weight' is torch.int32, the model expects torch.float32")


def test_weights_that_are_not_finite_are_refused(cli, finished):
    from redes.checkpoint import load_tensors, save_tensors

    tensors, meta = load_tensors(finished / "model.safetensors")
    tensors["model.0.bias"][3] = float("nan")
    save_tensors(finished / "model.safetensors", tensors, {k: v for k, v in meta.items() if k != "format"})
    assert_one_line_error(cli("eval", finished), "'0.bias' holds NaN or infinite values")


def test_model_metadata_too_deep_is_refused(cli, finished):
    _edit_header(finished / "model.safetensors",
                 lambda h: h["__metadata__"].update(redes="[" * 100_000 + "]" * 100_000))
    assert_one_line_error(cli("eval", finished), "model.safetensors", "without redes metadata")


@pytest.mark.parametrize("text, fragment", [("[1, 2]", "expected a JSON object, got list"),
                                             ("[" * 100_000, "not a summary written by redes")])
def test_a_summary_that_is_not_an_object_is_named(cli, finished, text, fragment):
    (finished / "summary.json").write_text(text)
    assert_one_line_error(cli("eval", finished), "summary.json", fragment)


def test_the_untouched_files_still_load(cli, finished, copy):
    assert cli("eval", finished).status == 0
    assert cli("resume", copy).status == 0
    assert len((copy / "metrics.csv").read_text().splitlines()) == 1 + 3
    assert torch.isfinite(load_tree(copy / "checkpoint.safetensors", "checkpoint")["model"]["0.weight"]).all()
