import pytest
import torch
from torch import nn

from redes.config import ModelConfig
from redes.errors import RedesError
from redes.nn.losses import loss_function, output_width, predictions, probabilities, resolve_loss, weight_penalty
from redes.nn.models import build_model


def _hand_penalty(model, l1, l2):
    """The notebook's formula, done right: only the weight matrices of the Linear layers."""
    total = 0.0
    for name, param in model.named_parameters():
        layer = model[int(name.split(".")[0])]
        if isinstance(layer, nn.Linear) and name.endswith("weight"):
            total += l1 * param.abs().sum().item() + l2 * (param ** 2).sum().item()
    return total


@pytest.mark.parametrize("l1, l2", [(0.01, 0.0), (0.0, 0.02), (0.01, 0.02)])
def test_penalty_matches_a_hand_computation_on_weights_only(l1, l2):
    model = build_model(ModelConfig(hidden=[6, 5], batchnorm=True), 4, 3)
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.BatchNorm1d):
                module.weight.fill_(3.0)  # would change the penalty if batchnorm were included
    penalty = weight_penalty(model, l1, l2)
    assert penalty.item() == pytest.approx(_hand_penalty(model, l1, l2), rel=1e-6)
    biases = sum(m.bias.abs().sum().item() for m in model if isinstance(m, nn.Linear))
    assert biases > 0  # the biases exist and were left out


def test_penalty_gradient_is_l1_sign_plus_2_l2_w():
    model = build_model(ModelConfig(hidden=[3]), 2, 1)
    weight_penalty(model, 0.5, 0.25).backward()
    w = model[0].weight
    assert torch.allclose(w.grad, 0.5 * w.sign() + 0.5 * w.detach())
    assert model[0].bias.grad is None


def test_no_penalty_when_both_lambdas_are_zero():
    assert weight_penalty(build_model(ModelConfig(hidden=[3]), 2, 1), 0.0, 0.0) is None


def test_auto_loss_and_head_width_follow_the_task():
    assert resolve_loss("auto", "classification", 10) == "cross_entropy"
    assert resolve_loss("auto", "binary", 2) == "bce"
    assert resolve_loss("auto", "regression", 0) == "mse"
    assert output_width("cross_entropy", 10, 1) == 10
    assert output_width("bce", 2, 1) == 1
    assert output_width("mse", 0, 3) == 3


@pytest.mark.parametrize("name, task, classes, message", [
    ("mse", "classification", 10, "mse needs numeric targets"),
    ("bce", "classification", 10, "bce needs 2 classes"),
    ("cross_entropy", "regression", 0, "needs class labels"),
])
def test_loss_that_cannot_fit_the_targets_is_refused(name, task, classes, message):
    with pytest.raises(RedesError, match=message):
        resolve_loss(name, task, classes)


def test_bce_on_logits_equals_clamped_bce_on_sigmoid():
    logits = torch.tensor([[-2.0], [0.5], [3.0]])
    y = torch.tensor([0, 1, 1])
    p = torch.sigmoid(logits.squeeze(1))
    expected = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    assert loss_function("bce")(logits, y).item() == pytest.approx(expected.item(), rel=1e-6)
    assert predictions(logits, "bce").tolist() == [0, 1, 1]
    assert torch.allclose(probabilities(logits, "bce")[:, 1], p)


def test_cross_entropy_probabilities_sum_to_one_and_argmax_predicts():
    logits = torch.tensor([[1.0, 2.0, 0.0], [3.0, -1.0, 0.0]])
    assert torch.allclose(probabilities(logits, "cross_entropy").sum(1), torch.ones(2))
    assert predictions(logits, "cross_entropy").tolist() == [1, 0]


def test_the_config_the_loss_table_and_auto_agree():
    from redes.config import LossConfig, describe_keys
    from redes.nn.losses import LOSSES

    for name, kind in LOSSES.items():
        assert LossConfig(name=name).name == name and name in describe_keys()
        assert resolve_loss("auto", kind.task, 2 if kind.task == "binary" else 3) == name
    with pytest.raises(ValueError, match="auto"):
        LossConfig(name="hinge")


@pytest.mark.parametrize("name, y, best_output", [
    ("cross_entropy", torch.tensor([0, 0, 0, 1, 2, 2]), lambda y: torch.log(torch.tensor([3, 1, 2]) / 6.0)),
    ("bce", torch.tensor([0, 1, 1, 1]), lambda y: torch.logit(torch.tensor([0.75]))),
    ("mse", torch.tensor([[1.0, 10.0], [3.0, -2.0], [8.0, 4.0]]), lambda y: y.mean(0)),
])
def test_constant_loss_is_the_loss_of_the_best_prediction_that_ignores_the_inputs(name, y, best_output):
    from redes.nn.losses import LOSSES

    outputs = best_output(y).double().expand(len(y), -1)
    assert LOSSES[name].constant_loss(y) == pytest.approx(float(loss_function(name)(outputs, y)), rel=1e-12)
    nearby = outputs.clone()
    nearby[:, 0] += 0.1
    assert LOSSES[name].constant_loss(y) < float(loss_function(name)(nearby, y))
