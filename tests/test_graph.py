"""redes graph: the autograd graph of a config's loss as DOT text, and its rendering by Graphviz."""

from __future__ import annotations

import re
import shutil

import pytest
import torch

from redes.config import load_config
from redes.study.graph import autograd_dot, loss_graph

SMALL = ["--set", "data.name=linear", "--set", "model.hidden=[3]", "--set", "data.test_fraction=0.2"]


def _settings(args: list[str]) -> list[str]:
    return [a for a in args if a != "--set"]


def _labels(dot: str) -> list[str]:
    return re.findall(r'label="([^"]*)"', dot)


def test_graph_of_a_small_mlp_names_every_parameter_and_operation():
    dot = loss_graph(load_config(overrides=_settings(SMALL)))
    labels = _labels(dot)
    params = {"0.weight\\n(3, 1)", "0.bias\\n(3)", "2.weight\\n(1, 3)", "2.bias\\n(1)"}
    assert params <= set(labels)
    assert {"MseLossBackward0", "ReluBackward0", "AddmmBackward0", "loss\\n()"} <= set(labels)
    assert labels.count("AddmmBackward0") == 2
    edges = re.findall(r"^  (\w+) -> (\w+);", dot, re.M)
    nodes = dict(re.findall(r'^  (\w+) \[label="([^"]*)"', dot, re.M))
    assert len(nodes) == len(labels) == 11  # loss, mse, 2 addmm, relu, 2 transposes, 4 parameters
    for src, dst in edges:
        assert src in nodes and dst in nodes
    assert {nodes[src] for src, _ in edges} >= params  # every parameter feeds the graph
    assert dot == loss_graph(load_config(overrides=_settings(SMALL)))  # same config, same text


def test_penalties_and_embeddings_appear_in_the_graph():
    labels = _labels(loss_graph(load_config(overrides=_settings(SMALL) + ["regularization.l1=0.1"])))
    assert "AbsBackward0" in labels
    tokens = load_config(overrides=["data.name=tokens", "model.embedding={vocab: 50, dim: 4}", "model.hidden=[]"])
    labels = _labels(loss_graph(tokens))
    assert "EmbeddingBackward0" in labels and "0.embedding.weight\\n(50, 4)" in labels
    assert "NllLossBackward0" in labels


def test_a_tensor_without_graph_is_a_clear_error():
    from redes.errors import RedesError

    with pytest.raises(RedesError, match="no computation graph"):
        autograd_dot(torch.zeros(()), {})


def test_cli_writes_dot_text_and_never_overwrites(cli, tmp_path):
    result = cli("graph", *SMALL, "--out", "loss.dot")
    assert result.status == 0, result.err
    text = (tmp_path / "loss.dot").read_text()
    assert text.startswith("digraph loss {") and "ReluBackward0" in text
    result = cli("graph", *SMALL, "--out", "loss.dot")
    assert result.status == 2 and "already exists" in result.err
    result = cli("graph", *SMALL, "--out", "loss.pdf")
    assert result.status == 2 and ".dot, .svg, .png" in result.err


def test_svg_without_graphviz_names_the_missing_dot_program(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = cli("graph", *SMALL, "--out", "loss.svg")
    assert result.status == 2 and "`dot`" in result.err and "apt-get install graphviz" in result.err
    assert result.err.count("\n") == 1 and not (tmp_path / "loss.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_and_png_with_graphviz(cli, tmp_path):
    assert cli("graph", *SMALL, "--out", "loss.svg").status == 0
    assert "<svg" in (tmp_path / "loss.svg").read_text() and "ReluBackward0" in (tmp_path / "loss.svg").read_text()
    assert cli("graph", *SMALL, "--out", "loss.png").status == 0
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
