import pytest
import torch
from torch import nn

from redes.config import ACTIVATIONS, ModelConfig
from redes.nn.models import build_model, count_parameters, summary


def test_layers_follow_the_spec():
    spec = ModelConfig(hidden=[16, 8], activation=["tanh", "sigmoid"], dropout=[0.3, 0.0], batchnorm=True)
    model = build_model(spec, 5, 3)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "BatchNorm1d", "Tanh", "Dropout", "Linear", "BatchNorm1d", "Sigmoid", "Linear"]
    assert model[3].p == 0.3
    assert model(torch.randn(4, 5)).shape == (4, 3)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_activation_builds(name):
    model = build_model(ModelConfig(hidden=[4], activation=name), 3, 2)
    assert model(torch.randn(2, 3)).shape == (2, 2)


def test_no_hidden_layers_is_a_linear_model():
    model = build_model(ModelConfig(hidden=[]), 1, 1)
    assert len(model) == 1 and isinstance(model[0], nn.Linear)


def test_seeded_init_is_reproducible_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a = build_model(ModelConfig(hidden=[8]), 4, 2, torch.Generator().manual_seed(1))
    b = build_model(ModelConfig(hidden=[8]), 4, 2, torch.Generator().manual_seed(1))
    c = build_model(ModelConfig(hidden=[8]), 4, 2, torch.Generator().manual_seed(2))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[0].weight, c[0].weight)


def test_default_init_matches_pytorch_bounds():
    model = build_model(ModelConfig(hidden=[200]), 100, 3)
    bound = 1 / 100 ** 0.5  # kaiming_uniform(a=sqrt(5)) and the bias both give U(-1/sqrt(fan_in), ...)
    assert model[0].weight.abs().max() <= bound and model[0].weight.abs().max() > 0.9 * bound
    assert model[0].bias.abs().max() <= bound


def test_init_scale_is_notebook_000s_randn_times_scale():
    model = build_model(ModelConfig(hidden=[300], init_scale=0.8), 400, 1)
    weight = model[0].weight
    assert abs(weight.std().item() - 0.8) < 0.01 and abs(weight.mean().item()) < 0.01
    assert torch.count_nonzero(model[0].bias) == 0


@pytest.mark.parametrize("init, activation, factor, zero_bias", [
    ("glorot", "relu", 6, True), ("sklearn", "relu", 6, False), ("sklearn", "sigmoid", 2, False)])
def test_glorot_and_sklearn_inits_are_uniform_within_their_bounds(init, activation, factor, zero_bias):
    model = build_model(ModelConfig(hidden=[200], activation=activation, init=init), 100, 40)
    for layer in (model[0], model[2]):
        bound = (factor / (layer.in_features + layer.out_features)) ** 0.5
        assert bound * 0.98 < layer.weight.abs().max() <= bound
        assert layer.weight.mean().abs() < 0.05 * bound  # centred
        if zero_bias:
            assert torch.count_nonzero(layer.bias) == 0
        else:
            assert 0.8 * bound < layer.bias.abs().max() <= bound


def test_init_and_init_scale_together_are_refused():
    with pytest.raises(ValueError, match="model.init=glorot and model.init_scale both set"):
        ModelConfig(init="glorot", init_scale=0.8)


def test_summary_counts_parameters_per_layer_and_in_total():
    model = build_model(ModelConfig(hidden=[512, 256], batchnorm=True), 3072, 10)
    expected = 3072 * 512 + 512 + 2 * 512 + 512 * 256 + 256 + 2 * 256 + 256 * 10 + 10
    assert count_parameters(model) == expected
    text = summary(model)
    assert text.startswith("Sequential(") and f"{expected:,}" in text
    assert "0 (Linear)" in text and f"{3072 * 512 + 512:,}" in text


@pytest.mark.parametrize("spec", [ModelConfig(hidden=[5, 3], batchnorm=True), ModelConfig(hidden=[]),
                                  ModelConfig(hidden=[7], embedding={"vocab": 20, "dim": 4}, activation="tanh")])
def test_the_parameter_count_is_known_before_the_model_is_built(spec):
    from redes.nn.models import count_parameters, parameter_count

    assert parameter_count(spec, 6, 2) == count_parameters(build_model(spec, 6, 2))


def test_a_model_too_big_for_the_machine_is_refused_with_its_numbers_before_it_is_built(monkeypatch):
    import redes.runs.setup as setup
    from redes.config import load_config
    from redes.errors import RedesError

    monkeypatch.setattr(setup, "build_model", lambda *args: pytest.fail("the model was built"))
    with pytest.raises(RedesError, match=r"makes 10,007,600,010 parameters: .* about 149.1 GiB, more than"):
        setup.prepare(load_config(overrides=["model.hidden=[100000, 100000]"]))
