import pytest
import torch
from torch import nn

from redes.errors import RedesError
from redes.nn.preflight import preflight

X = torch.randn(20, 4)
LABELS = torch.arange(20) % 3


def mlp(*tail: nn.Module, n_out: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, n_out), *tail)


class Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.spare = nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x):
        return self.used(x)


@pytest.mark.parametrize("model, loss, x, y, message", [
    (mlp(nn.Softmax(dim=1)), "cross_entropy", X, LABELS, "ends in a softmax"),
    (mlp(), "cross_entropy", X, LABELS.float(), r"float targets \(torch.float32\) for classification"),
    (mlp(), "cross_entropy", X, LABELS[:, None], r"targets of shape \(20, 1\).*use y.squeeze\(1\)"),
    (mlp(n_out=1), "mse", X, torch.randn(20), r"outputs of shape \(20, 1\) against targets of shape \(20,\)"),
    (mlp(), "cross_entropy", X, LABELS + 5, "labels go up to 7 but the model outputs 3 classes"),
    (mlp(), "cross_entropy", torch.randn(20, 5), LABELS, "5 input features but the model's first layer expects 4"),
    (Unused(), "cross_entropy", X, LABELS, r"gradients never reach spare.weight, spare.bias"),
    (mlp(), "bce", X, LABELS % 2, r"bce needs one output unit"),
])
def test_each_classic_mistake_is_explained_in_one_line(model, loss, x, y, message):
    with pytest.raises(RedesError, match=message) as error:
        preflight(model, loss, x, y)
    assert "\n" not in str(error.value)


def test_a_sound_setup_passes_and_is_left_untouched():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.random.get_rng_state()
    preflight(model, "cross_entropy", X, LABELS)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats too
    assert torch.equal(torch.random.get_rng_state(), rng)
