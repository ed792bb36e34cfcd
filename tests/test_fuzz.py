"""Hypothesis: every config, checkpoint or model file gives a result or one RedesError, never anything else."""

import json
import struct
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import redes
from redes.checkpoint import load_tree
from redes.config import Config, config_keys, load_config
from redes.errors import RedesError
from redes.runs.setup import prepare
from redes.runs.train import _restore

KEYS = [key for key, *_ in config_keys()]
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.lists(st.integers(-5, 300), max_size=4))


def _outcome(call):
    try:
        return call()
    except RedesError as error:
        assert str(error) and "\n" not in str(error)
        return error


@FUZZ
@given(entries=st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=15)), scalars, max_size=6))
def test_config_overrides(entries):
    overrides = [f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
                 for key, value in entries.items()]
    result = _outcome(lambda: load_config(overrides=overrides))
    assert isinstance(result, (Config, RedesError))


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      st.recursive(scalars, lambda inner: st.dictionaries(st.text(max_size=10), inner, max_size=4),
                                   max_leaves=12).map(yaml.safe_dump)))
def test_config_files(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    assert isinstance(_outcome(lambda: load_config(path)), (Config, RedesError))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = redes.train({"train": {"epochs": 1, "batch_size": 256}, "model": {"hidden": [8]}},
                      out=tmp_path_factory.mktemp("fuzz") / "run", verbose=False)
    return run.path, (run.path / "checkpoint.safetensors").read_bytes(), (run.path / "model.safetensors").read_bytes()


def _mutations():
    flips = st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 255)), min_size=1, max_size=6)
    return st.one_of(st.tuples(st.just("flip"), flips), st.tuples(st.just("cut"), st.integers(0, 10**9)),
                     st.tuples(st.just("header"), st.dictionaries(st.text(max_size=8), scalars, max_size=3)))


def _mutate(data: bytes, how) -> bytes:
    kind, arg = how
    if kind == "cut":
        return data[: arg % (len(data) + 1)]
    if kind == "flip":
        out = bytearray(data)
        for position, value in arg:
            out[position % len(out)] = value
        return bytes(out)
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    header["__metadata__"]["redes"] = json.dumps({**json.loads(header["__metadata__"]["redes"]), **arg})
    packed = json.dumps(header).encode()
    return struct.pack("<Q", len(packed)) + packed + data[8 + size:]


@FUZZ
@given(how=_mutations())
def test_checkpoint_files(tmp_path, trained, how):
    run_dir, checkpoint, _ = trained
    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes(_mutate(checkpoint, how))

    def load():
        setup = prepare(load_config(run_dir / "config.yaml"))
        _restore(setup, load_tree(path, "checkpoint"), path)
        return setup

    _outcome(load)


@FUZZ
@given(how=_mutations())
def test_model_files(tmp_path, trained, how):
    run_dir, _, model = trained
    copy = tmp_path / "run"
    copy.mkdir(exist_ok=True)
    (copy / "config.yaml").write_bytes((run_dir / "config.yaml").read_bytes())
    (copy / "model.safetensors").write_bytes(_mutate(model, how))
    _outcome(lambda: redes.load_run(copy))


def test_a_tampered_entry_that_is_no_longer_a_tensor_is_named(tmp_path):
    from torch import nn

    from redes.checkpoint import load_state

    model = nn.Linear(3, 2)
    tensors = {"weight": {"__tensor__": "t.0"}, "bias": model.bias.detach()}
    with pytest.raises(RedesError, match=r"model.safetensors: 'weight' is not a tensor; the file is damaged"):
        load_state(model, tensors, Path("model.safetensors"))
    with pytest.raises(RedesError, match="not a mapping of named tensors"):
        load_state(model, [1, 2], Path("model.safetensors"))
