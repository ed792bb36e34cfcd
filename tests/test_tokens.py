"""Token inputs (notebook 004): model.embedding, the generated tokens data set, and runs that use them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import redes
from redes.config import ModelConfig, load_config
from redes.data import load_data
from redes.errors import RedesError
from redes.nn.models import TokenBag, build_model

TOKENS = {"data": {"name": "tokens", "n_samples": 800}, "model": {"embedding": {"vocab": 50, "dim": 8},
                                                                   "hidden": [16]},
          "optimizer": {"lr": 0.01}, "train": {"epochs": 6, "batch_size": 32}}


@pytest.fixture(scope="module")
def token_run(tmp_path_factory):
    return redes.train(TOKENS, out=tmp_path_factory.mktemp("runs") / "tokens", verbose=False)


def test_tokens_data_are_integer_ids_whose_keywords_name_the_class():
    splits = load_data(load_config(base={"data": {"name": "tokens", "vocab": 40, "seq_len": 10}}).data)
    x, y = splits.train.x, splits.train.y
    assert x.shape[1] == 10 and splits.classes == ["sports", "music", "science", "cooking"]
    assert torch.equal(x, x.round()) and x.min() >= 0 and x.max() < 40
    k = 4  # vocab // 10 keyword ids per topic
    for row, topic in zip(x.long(), y):
        keywords = row[row < 4 * k] // k
        assert len(keywords) >= 1 and (keywords == topic).all()


def test_embedding_comes_first_and_pools_over_the_sequence():
    model = build_model(ModelConfig(embedding={"vocab": 20, "dim": 4}, hidden=[8]), 5, 3)
    assert isinstance(model[0], TokenBag) and model[0].in_features == 5 and model[1].in_features == 4
    ids = torch.tensor([[1.0, 2, 3, 4, 5], [5, 4, 3, 2, 1]])  # the same bag in another order
    out = model(ids)
    assert out.shape == (2, 3) and torch.allclose(out[0], out[1])
    table = model[0].embedding.weight
    assert torch.allclose(model[0](ids[:1]), table[[1, 2, 3, 4, 5]].mean(0, keepdim=True))
    summed = build_model(ModelConfig(embedding={"vocab": 20, "dim": 4, "pooling": "sum"}, hidden=[]), 5, 1)
    assert torch.allclose(summed[0](ids[:1]), summed[0].embedding.weight[[1, 2, 3, 4, 5]].sum(0, keepdim=True))


def test_token_model_learns_its_data_far_above_chance(token_run):
    assert token_run.evaluate("test").accuracy > 0.8  # chance: 0.25
    assert isinstance(token_run.model[0].embedding, nn.Embedding)


def test_token_run_reloads_evaluates_and_predicts_integer_ids(token_run, cli, tmp_path):
    again = redes.load_run(token_run.path)
    assert isinstance(again.model[0], TokenBag)
    assert again.evaluate("test").accuracy == token_run.evaluate("test").accuracy
    result = cli("eval", token_run.path, "--json")
    assert result.status == 0 and json.loads(result.out)["accuracy"] > 0.8
    test = token_run.data.test
    np.savez(tmp_path / "ids.npz", x=test.x.long().numpy())  # integer ids, as a user would have them
    result = cli("predict", token_run.path, tmp_path / "ids.npz")
    assert result.status == 0, result.err
    names = [line.split(",")[0] for line in result.out.splitlines()[1:]]
    truth = [token_run.classes[i] for i in test.y]
    assert np.mean([a == b for a, b in zip(names, truth)]) == token_run.evaluate("test").accuracy


def test_embedding_needs_the_module_engine_and_valid_ids(cli):
    result = cli("train", "--set", "data.name=tokens", "--set", "model.embedding={vocab: 50, dim: 4}",
                 "--set", "train.engine=autograd")
    assert result.status == 2 and "model.embedding needs train.engine=module" in result.err
    result = cli("explain", "--set", "data.name=tokens", "--set", "model.embedding={vocab: 50, dim: 4}")
    assert result.status == 2 and "does not explain model.embedding" in result.err
    result = cli("train", "--set", "model.embedding.vocb=50")
    assert result.status == 2 and "did you mean 'model.embedding.vocab'" in result.err
    with pytest.raises(RedesError, match="vocab=30 allows 0..29"):
        redes.train({**TOKENS, "model": {"embedding": {"vocab": 30, "dim": 4}}}, verbose=False)
    with pytest.raises(RedesError, match="integer token ids"):
        redes.train({**TOKENS, "data": {"name": "tokens", "scale": "standard"}}, verbose=False)


def test_notebook004_preset_is_a_valid_token_config():
    cfg = load_config("notebook004")
    assert cfg.data.name == "tokens" and cfg.model.embedding.vocab == cfg.data.vocab


def test_config_reference_lists_the_embedding_keys(cli):
    result = cli("config", "--show")
    for key in ("model.embedding = null", "model.embedding.vocab", "model.embedding.dim", "data.vocab", "data.seq_len"):
        assert key in result.out
    result = cli("config", "--set", "model.embedding.vocab=10", "--set", "model.embedding.dim=3")
    assert result.status == 0 and "vocab: 10" in result.out and "pooling: mean" in result.out
    result = cli("config", "--set", "model.embedding.vocab=10")
    assert result.status == 2 and "model.embedding.dim" in result.err
