"""redes.estimators.mlp: scikit-learn's estimator contract, model selection, engines, partial_fit, stopping, errors."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from redes.estimators.mlp import MLPClassifier, MLPRegressor, expected_failed_checks


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks train several times faster on one thread than on two contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=3, n_features=4, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.mark.parametrize("kind", [MLPClassifier, MLPRegressor])
def test_check_estimator_passes(kind):
    estimator = kind(max_iter=100)
    results = check_estimator(estimator, expected_failed_checks=expected_failed_checks(estimator), on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) > 45


def test_expected_failed_checks_only_for_float32():
    assert set(expected_failed_checks(MLPClassifier())) == {"check_methods_subset_invariance",
                                                            "check_methods_sample_order_invariance"}
    assert expected_failed_checks(MLPRegressor(dtype="float64")) == {}


def test_grid_search_in_a_pipeline_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    pipeline = Pipeline([("scale", StandardScaler()), ("mlp", MLPClassifier(max_iter=30, random_state=0))])
    grid = GridSearchCV(pipeline, {"mlp__hidden_layer_sizes": [(32,), (64,)], "mlp__alpha": [1e-4, 1.0]}, cv=3)
    grid.fit(X_train, y_train)
    assert grid.best_params_["mlp__hidden_layer_sizes"] in [(32,), (64,)]
    assert grid.score(X_test, y_test) >= 0.9


def test_cross_val_score(blobs):
    X, y = blobs
    scores = cross_val_score(MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, learning_rate_init=0.01,
                                           random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8


def test_clone_is_unfitted_with_equal_params(blobs):
    fitted = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0, engine="manual").fit(*blobs)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_") and hasattr(fitted, "model_")


def test_get_params_set_params_round_trip():
    params = MLPRegressor(hidden_layer_sizes=(3, 2), solver="sgd", device="auto", dropout=0.2).get_params()
    assert MLPRegressor().set_params(**params).get_params() == params
    assert params["hidden_layer_sizes"] == (3, 2) and params["engine"] == "auto"


def test_same_random_state_same_predictions(blobs):
    X, y = blobs
    make = lambda seed: MLPClassifier(hidden_layer_sizes=(16,), max_iter=10, random_state=seed).fit(X, y)
    assert np.array_equal(make(3).predict_proba(X), make(3).predict_proba(X))
    assert not np.array_equal(make(3).predict_proba(X), make(4).predict_proba(X))


@pytest.mark.parametrize("params, chosen", [
    ({}, ("manual", "numpy")), ({"hidden_layer_sizes": (2000, 1000)}, ("module", "torch")),
    ({"activation": "gelu"}, ("module", "torch")), ({"backend": "torch"}, ("module", "torch")),
    ({"engine": "manual"}, ("manual", "numpy")), ({"engine": "manual", "backend": "torch"}, ("manual", "torch"))])
def test_auto_picks_the_manual_engine_on_numpy_for_small_networks_on_the_cpu(blobs, params, chosen):
    model = MLPClassifier(**{"hidden_layer_sizes": (16,), "max_iter": 1, **params}).fit(*blobs)
    assert model._engine_and_backend() == chosen


def test_auto_gives_the_numbers_of_the_engine_it_picks(blobs):
    fits = [MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0, **params).fit(*blobs).predict_proba(
        blobs[0]) for params in ({}, {"engine": "manual", "backend": "numpy"})]
    np.testing.assert_array_equal(fits[0], fits[1])


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_engines_agree_in_float64(blobs, solver):
    X, y = blobs
    probabilities = [MLPClassifier(hidden_layer_sizes=(16, 8), activation="tanh", max_iter=20, solver=solver,
                                   alpha=0.1, l1=1e-3, batch_size=32, random_state=1, dtype="float64",
                                   engine=engine).fit(X, y).predict_proba(X)
                     for engine in ("module", "autograd", "manual")]
    for other in probabilities[1:]:
        np.testing.assert_allclose(other, probabilities[0], rtol=0, atol=1e-8)
    regressions = [MLPRegressor(hidden_layer_sizes=(8,), max_iter=10, solver=solver, random_state=1,
                                dtype="float64", engine=engine).fit(X, X[:, 0]).predict(X)
                   for engine in ("module", "manual")]
    np.testing.assert_allclose(regressions[1], regressions[0], rtol=0, atol=1e-8)


def test_partial_fit_continues_training(blobs):
    X, y = blobs
    model = MLPClassifier(hidden_layer_sizes=(16,), batch_size=16, learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X, y)
    model.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    for _ in range(9):
        model.partial_fit(X, y)
    assert list(model.classes_) == [0, 1, 2] and model.n_iter_ == 10
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    with pytest.raises(ValueError, match="classes"):
        model.partial_fit(X, y, classes=[0, 1])


def test_partial_fit_survives_pickle(blobs):
    X, y = blobs
    straight = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    paused = clone(straight).partial_fit(X, y, classes=[0, 1, 2])
    paused = pickle.loads(pickle.dumps(paused))
    for model in (straight, paused):
        for _ in range(3 if model is straight else 2):
            model.partial_fit(X, y, classes=[0, 1, 2])
    assert np.array_equal(straight.predict_proba(X), paused.predict_proba(X))


def test_string_and_sparse_integer_labels(blobs):
    X, y = blobs
    for names in (np.array(["bird", "cat", "dog"]), np.array([-3, 7, 42])):
        model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0).fit(X, names[y])
        assert list(model.classes_) == sorted(names.tolist())
        assert set(model.predict(X)) == set(names) and model.score(X, names[y]) > 0.9
        proba = model.predict_proba(X)
        assert proba.shape == (len(X), 3) and np.allclose(proba.sum(axis=1), 1)
        assert np.array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X))


def test_binary_classification(blobs):
    X, y = blobs
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, y == 1)
    assert list(model.classes_) == [False, True] and model.predict_proba(X).shape == (len(X), 2)


def test_regressor_reaches_r2_and_handles_2d_targets():
    X, y = make_regression(n_samples=300, n_features=8, n_targets=2, noise=1.0, random_state=0)
    model = make_pipeline(StandardScaler(), MLPRegressor(max_iter=300, learning_rate_init=0.01, random_state=0))
    assert model.fit(X, y[:, 0]).score(X, y[:, 0]) >= 0.9
    assert model.predict(X).shape == (300,)
    assert model.fit(X, y).score(X, y) >= 0.9
    assert model.predict(X).shape == (300, 2) and model[-1].n_outputs_ == 2
    assert model.fit(X, y[:, :1]).predict(X).shape == (300, 1)


def test_early_stopping_stops_before_max_iter():
    X, y = make_blobs(n_samples=200, centers=2, cluster_std=0.5, random_state=0)
    model = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True, max_iter=500, learning_rate_init=0.01,
                          random_state=0).fit(StandardScaler().fit_transform(X), y)
    assert model.n_iter_ < 500 and len(model.loss_curve_) == model.n_iter_
    assert len(model.validation_scores_) == model.n_iter_ and model.best_loss_ is None
    assert model.best_validation_score_ == max(model.validation_scores_) == 1.0


def test_training_loss_plateau_stops_without_early_stopping(blobs):
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=500, tol=0.1, random_state=0).fit(*blobs)
    assert model.n_iter_ < 500 and model.validation_scores_ is None
    assert model.best_loss_ == pytest.approx(min(model.loss_curve_))


def test_warm_start_continues(blobs):
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0).fit(*blobs)
    weights = model.model_[0].weight
    model.fit(*blobs)
    assert model.n_iter_ == 10 and len(model.loss_curve_) == 10 and model.model_[0].weight is weights


def test_redes_options_train(blobs):
    X, y = blobs
    model = MLPClassifier(hidden_layer_sizes=(16, 16), dropout=0.1, batchnorm=True, activation="logistic",
                          solver="adamw", max_iter=20, batch_size=16, shuffle=False, random_state=0, engine="manual",
                          backend="numpy").fit(X, y)
    assert model.score(X, y) > 0.8 and not model.model_.training
    assert np.array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))


def test_verbose_prints_one_line_per_epoch_and_silent_otherwise(blobs, capsys):
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(*blobs)
    assert capsys.readouterr().out == ""
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0, verbose=True, early_stopping=True).fit(*blobs)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3") and "val score" in lines[0]


@pytest.mark.parametrize("params, name", [
    ({"activation": "relux"}, "activation"), ({"solver": "lbfgs"}, "solver"), ({"alpha": -1.0}, "alpha"),
    ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes"), ({"batch_size": 0}, "batch_size"),
    ({"engine": "magic"}, "engine"), ({"device": "tpu"}, "device"), ({"dropout": 1.5}, "dropout"),
    ({"engine": "manual", "activation": "gelu"}, "gelu"), ({"backend": "numpy", "engine": "module"}, "backend='numpy'"),
    ({"backend": "numpy", "activation": "gelu"}, "gelu"),
    ({"max_iter": 0}, "max_iter"), ({"shuffle": "yes"}, "shuffle"),
])
def test_bad_parameters_are_value_errors_naming_them(blobs, params, name):
    with pytest.raises(ValueError, match=name):
        MLPClassifier(**{"hidden_layer_sizes": (4,), "max_iter": 1, **params}).fit(*blobs)


def test_divergence_is_a_clear_error(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="non-finite"):
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=50, solver="sgd", learning_rate_init=10.0,
                     random_state=0).fit(X * 1e3, X[:, 0] * 1e6)


def test_init_draws_the_first_weights_as_scikit_learn_by_default(blobs):
    """init='sklearn' (the default): uniform within sqrt(6 / (fan_in + fan_out)); init='torch': nn.Linear's
    1/sqrt(fan_in)."""
    X, y = blobs  # 4 features, 8 hidden units: bounds sqrt(6 / 12) = 0.707 and 1 / sqrt(4) = 0.5
    weights = {init: MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, learning_rate_init=1e-12, random_state=0,
                                   **({} if init == "default" else {"init": init})).fit(X, y).model_[0].weight.abs()
               for init in ("default", "torch")}
    assert 0.5 < weights["default"].max() <= math.sqrt(0.5)
    assert weights["torch"].max() <= 0.5
    with pytest.raises(ValueError, match="init='he' is not valid; expected one of sklearn, torch, glorot"):
        MLPClassifier(init="he").fit(X, y)
