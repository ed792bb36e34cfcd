import re

import array_api_compat.torch as xp
import pytest
import torch
from torch import nn

from redes.config import ACTIVATIONS, Config, ModelConfig, OptimizerConfig
from redes.errors import RedesError
from redes.study.explain import explain, explain_config
from redes.manual import layers as L
from redes.manual.network import Network
from redes.nn.models import build_model

ROW = re.compile(r"^  (\S+)\s+(\([\d, ]*\))\s+(.*?)\s*$")


def rows(text: str) -> dict[str, list[tuple[str, str]]]:
    """tensor -> [(shape, formula and note), ...] for every equation row of the explanation."""
    table: dict[str, list[tuple[str, str]]] = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            table.setdefault(match[1], []).append((match[2], match[3]))
    return table


def section(text: str, title: str) -> str:
    """The lines of one section, from its title to the next blank line."""
    start = text.index(f"\n{title}")
    return text[start + 1:].split("\n\n")[0]


def explained(hidden=(128, 64), n_in=64, n_out=10, loss="cross_entropy", batch=32, **kwargs) -> tuple[str, nn.Module]:
    spec = {key: kwargs.pop(key) for key in ("activation", "dropout", "batchnorm") if key in kwargs}
    model = build_model(ModelConfig(hidden=list(hidden), **spec), n_in, n_out)
    return explain(model, loss, batch, **kwargs), model


def test_shapes_of_a_known_network():
    table = rows(explained()[0])
    assert table["x"][0][0] == "(32, 64)"
    shape, formula = table["u1"][0]
    assert shape == "(32, 128)" and re.fullmatch(r"= x W1ᵀ \+ b1 +W1 \(128, 64\), b1 \(128,\)", formula)
    assert table["u2"][0][0] == "(32, 64)" and table["u3"][0][0] == "(32, 10)"
    assert table["dL/dW1"][0] == ("(128, 64)", "= (dL/du1)ᵀ x")
    assert table["dL/dW2"][0] == ("(64, 128)", "= (dL/du2)ᵀ h1")
    assert table["dL/db3"][0] == ("(10,)", "= Σ_batch dL/du3")
    assert table["dL/dh2"][0] == ("(32, 64)", "= dL/du3 W3")
    assert table["L"][0][0] == "()"


@pytest.mark.parametrize("activation, reuse, derivative, absent", [
    ("sigmoid", True, "⊙ h1 ⊙ (1 - h1)", "σ(u1) ⊙ (1 - σ(u1))"),
    ("sigmoid", False, "⊙ σ(u1) ⊙ (1 - σ(u1))", "h1 ⊙ (1 - h1)"),
    ("tanh", True, "⊙ (1 - h1²)", "tanh(u1)²"),
    ("tanh", False, "⊙ (1 - tanh(u1)²)", "h1²"),
])
def test_backward_reuses_forward_values_or_recomputes_them(activation, reuse, derivative, absent):
    text, _ = explained(hidden=[8], activation=activation, reuse=reuse)
    (shape, formula), = rows(text)["dL/du1"]
    assert formula.startswith(f"= dL/dh1 {derivative}") and absent not in text
    assert ("reuses h1" if reuse else "recomputes") in formula


DERIVATIVES = {
    "relu": "dL/dh1 ⊙ 1[u1 > 0]", "tanh": "dL/dh1 ⊙ (1 - h1²)", "sigmoid": "dL/dh1 ⊙ h1 ⊙ (1 - h1)",
    "hardsigmoid": "dL/dh1 ⊙ 1[-3 < u1 < 3] / 6", "leaky_relu": "dL/dh1 ⊙ where(u1 > 0, 1, s)   slope s = 0.01",
    "gelu": "dL/dh1 ⊙ (Φ(u1) + u1 ⊙ φ(u1))", "elu": "dL/dh1 ⊙ where(u1 > 0, 1, α·e^u1)   α = 1",
    "selu": "dL/dh1 ⊙ λ·where(u1 > 0, 1, α·e^u1)   λ = 1.0507, α = 1.6733",
    "silu": "dL/dh1 ⊙ s ⊙ (1 + u1 ⊙ (1 - s))   s = σ(u1)", "softplus": "dL/dh1 ⊙ σ(u1)", "identity": "dL/dh1",
}


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_has_its_derivative(activation):
    """Checked against the derivatives written out above; an activation added since, against its table entry."""
    text, _ = explained(hidden=[8], activation=activation)
    formula = re.sub(r"\s{3,}", "   ", rows(text)["dL/du1"][0][1])
    kind = ACTIVATIONS[activation]
    written = DERIVATIVES.get(activation, "dL/dh1 ⊙ " + kind.derivative.format(a="u1", h="h1"))
    assert formula.startswith("= " + written)
    assert rows(text)["h1"][0][1].startswith(f"= {activation}(u1)")
    assert ("autograd engines only" in text) == (activation == "gelu")


def test_dropout_and_batchnorm_equations():
    text, _ = explained(hidden=[16], dropout=0.25, batchnorm=True, activation="relu")
    table = rows(text)
    assert table["z1"][0][1].startswith("= γ1 ⊙ x̂1 + β1")
    assert table["x̂1"][0][1].startswith("= (u1 - μ1) / √(σ1² + ε)")
    assert table["a1"][0][1].startswith("= relu(z1)")
    assert table["h1"][0][1].startswith("= a1 ⊙ m1 / (1 - p)") and "p = 0.25" in table["h1"][0][1]
    assert table["dL/da1"][0][1].startswith("= dL/dh1 ⊙ m1 / (1 - p)")
    assert table["dL/dγ1"][0] == ("(16,)", "= Σ_batch dL/dz1 ⊙ x̂1")
    backward = "= (B·dL/dx̂1 - Σ_batch dL/dx̂1 - x̂1 ⊙ Σ_batch(dL/dx̂1 ⊙ x̂1)) / (B·√(σ1² + ε))"
    assert table["dL/du1"][0][1] == backward
    assert table["u2"][0][1].startswith("= h1 W2ᵀ + b2")
    plain, _ = explained(hidden=[16])
    assert "m1" not in plain and "γ1" not in plain and "x̂" not in plain


@pytest.mark.parametrize("l1, l2, term", [(0.0, 0.0, None), (0.01, 0.0, "l1·sign(W1)"), (0.0, 0.1, "2·l2·W1"),
                                          (0.01, 0.1, "l1·sign(W1) + 2·l2·W1")])
def test_penalty_gradient_only_when_asked(l1, l2, term):
    text, _ = explained(hidden=[8], l1=l1, l2=l2)
    grads = rows(text)["dL/dW1"]
    if term is None:
        assert len(grads) == 1 and "sign" not in text and "l2" not in text and "L_data" not in text
    else:
        assert len(grads) == 2 and grads[1][1].startswith(f"= dL/dW1 + {term}   ")
        assert rows(text)["L"][0][1].startswith("= L_data + ")


def test_loss_gradients():
    ce = rows(explained(hidden=[8], n_out=10)[0])
    assert ce["dL/du2"][0][0] == "(32, 10)" and ce["dL/du2"][0][1].startswith("= (softmax(u2) - onehot(y)) / B")
    bce = rows(explained(hidden=[8], n_out=1, loss="bce")[0])
    assert bce["p"][0][1].startswith("= σ(u2)") and "clamp(p, 1e-5, 1 - 1e-5)" in bce["L"][0][1]
    assert bce["dL/du2"][0][1].startswith("= (p - y) / B")
    recomputed = rows(explained(hidden=[8], n_out=1, loss="bce", reuse=False)[0])
    assert recomputed["dL/du2"][0][1].startswith("= (σ(u2) - y) / B")
    mse = rows(explained(hidden=[8], n_out=3, loss="mse")[0])
    assert mse["dL/du2"][0] == ("(32, 3)", "= dL/dŷ = 2(ŷ - y) / (B·k)") and "k = 3" in mse["L"][0][1]
    with pytest.raises(RedesError, match="unknown loss"):
        explained(loss="hinge")


def test_parameter_total_matches_the_model():
    text, model = explained(hidden=[32, 16], batchnorm=True, dropout=0.1)
    counts = section(text, "Parameters").splitlines()[1:]
    total = sum(p.numel() for p in model.parameters())
    assert counts[-1].split()[0] == "total" and counts[-1].endswith(f"{total:,}")
    assert sum(int(line.split()[-1].replace(",", "")) for line in counts[:-1]) == total
    assert counts[0].split()[:2] == ["0", "Linear"] and counts[0].endswith("2,080")


def test_update_rules():
    sgd = explained(hidden=[8], optimizer=OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True,
                                                          weight_decay=1e-4))[0]
    assert "g = dL/dθ + wd·θ" in sgd and "b ← μ·b + g" in sgd and "θ ← θ - lr·(g + μ·b)" in sgd
    plain = explained(hidden=[8], optimizer=OptimizerConfig(name="sgd", lr=0.1))[0]
    assert "θ ← θ - lr·g" in plain and "b ←" not in plain
    adamw = explained(hidden=[8], optimizer=OptimizerConfig(name="adamw", weight_decay=0.01))[0]
    assert "θ ← (1 - lr·wd)·θ" in adamw and "g = dL/dθ\n" in adamw and "v ← β2·v + (1 - β2)·g²" in adamw
    assert "Update" not in explained(hidden=[8])[0]


def test_unknown_module_is_an_error():
    with pytest.raises(RedesError, match="PReLU"):
        explain(nn.Sequential(nn.Linear(3, 4), nn.PReLU(), nn.Linear(4, 1)), "mse", 8)


def test_explain_config_on_the_default_config():
    text = explain_config(Config())
    assert text.startswith("Data digits (classification, 10 classes, 64 features), loss cross_entropy")
    table = rows(text)
    assert "W1 (128, 64)" in table["u1"][0][1] and table["u1"][0][0] == "(32, 128)"
    assert table["u3"][0][0] == "(32, 10)" and "Update (adam, lr = 0.001" in text


@pytest.mark.parametrize("loss, n_out", [("cross_entropy", 3), ("bce", 1), ("mse", 2)])
def test_printed_shapes_are_those_the_manual_network_computes(loss, n_out):
    batch, spec = 5, dict(activation=["tanh", "silu"], dropout=0.5, batchnorm=True)
    text, model = explained(hidden=[7, 4], n_in=6, n_out=n_out, loss=loss, batch=batch, l1=0.1, l2=0.1, **spec)
    def draw_mask(x, keep):
        return torch.empty_like(x).bernoulli_(keep)

    network = Network(model, loss, xp, lambda t: t.detach(), draw_mask=draw_mask, l1=0.1, l2=0.1)
    x = torch.randn(batch, 6)
    y = {"cross_entropy": torch.tensor([0, 1, 2, 0, 1]), "bce": torch.tensor([0, 1, 1, 0, 1]),
         "mse": torch.randn(batch, n_out)}[loss]
    outputs, h = [], x
    for layer in network.layers:
        h = layer.forward(h)
        outputs.append(str(tuple(h.shape)))
    table = rows(section(text, "Forward"))
    printed = [shapes[0][0] for name, shapes in table.items() if re.fullmatch(r"[uzah]\d+", name)]
    assert printed == outputs and len(printed) == len(network.layers)
    _, _, _, grads = network.loss_and_grads(x, y)
    names, i = [], 0
    for layer in network.layers:
        i += isinstance(layer, L.Linear)
        names += [f"dL/dW{i}", f"dL/db{i}"] if isinstance(layer, L.Linear) else []
        names += [f"dL/dγ{i}", f"dL/dβ{i}"] if isinstance(layer, L.BatchNorm) else []
    backward = rows(section(text, "Backward"))
    assert [backward[name][-1][0] for name in names] == [str(tuple(g.shape)) for g in grads]
