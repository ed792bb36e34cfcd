"""scikit-learn's MLPClassifier and MLPRegressor, trained by redes' models, engines and loop.

Parameters keep scikit-learn's names where the meaning is the same; see docs/scikit-learn.md.
Nothing is written to disk and nothing is printed unless `verbose`.
"""

from __future__ import annotations

import warnings
from typing import Callable, Optional

import numpy as np
import torch
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from redes.config import ModelConfig, OptimizerConfig, RegularizationConfig, TrainConfig
from redes.data import Split
from redes.devices import resolve_device
from redes.engines import build_engine
from redes.estimators.params import as_value_errors, check_params, hidden_widths
from redes.loop.callbacks import Callback, format_epoch
from redes.loop.evaluate import model_outputs
from redes.loop.fit import fit as fit_loop
from redes.nn.activations import HAND_WRITTEN
from redes.nn.models import build_model

_SMALL_STEP = 2_000_000  # multiply-adds a step (batch x weights) under which engine="auto" picks manual/numpy

_FLOAT32_ROUNDING = ("float32 matrix products are not batch-invariant: predictions on a subset may differ from "
                     "those on the whole set by ~1e-7, above the check's tolerance (dtype='float64' passes)")


def expected_failed_checks(estimator) -> dict[str, str]:
    """The scikit-learn estimator checks `estimator` is expected to fail, with why (for check_estimator)."""
    if getattr(estimator, "dtype", None) != "float32":
        return {}
    return {"check_methods_subset_invariance": _FLOAT32_ROUNDING,
            "check_methods_sample_order_invariance": _FLOAT32_ROUNDING}


class _Stopper(Callback):
    """scikit-learn's rule: stop once the validation score (or, without one, the training loss) has not
    improved by `tol` for more than `patience` epochs in a row; keeps the best weights when scoring."""

    def __init__(self, tol: float, patience: int, score: Optional[Callable[[], float]], loss_scale: float):
        self.tol, self.patience, self.score, self.loss_scale = tol, patience, score, loss_scale
        self.best, self.best_weights, self.bad = -np.inf, None, 0

    def on_epoch_end(self, state, logs: dict) -> None:
        if self.score is None:
            value = -self.loss_scale * (logs["train_loss"] + logs["train_penalty"])  # higher is better
        else:
            value = logs["val_score"] = self.score()
        self.bad = self.bad + 1 if value < self.best + self.tol else 0
        if value > self.best:
            self.best = value
            if self.score is not None:
                self.best_weights = {k: v.clone() for k, v in state.engine.model.state_dict().items()}
        state.stop = self.bad > self.patience


class _Verbose(Callback):
    """One line per epoch on stdout (verbose=True): losses, accuracy and the validation score."""

    def on_epoch_end(self, state, logs: dict) -> None:
        score = f"  val score {logs['val_score']:.4f}" if "val_score" in logs else ""
        print(format_epoch(logs, state.epochs) + score, flush=True)


class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share: parameters, validation and training."""

    _loss = ""  # the redes loss: cross_entropy or mse
    _sklearn_scale = 1.0  # scikit-learn's data loss / redes' (its squared error is halved)

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999, n_iter_no_change=10,
                 engine="auto", backend="auto", device="cpu", dtype="float32", dropout=0.0, batchnorm=False,
                 l1=0.0, init="sklearn"):
        self.hidden_layer_sizes, self.activation = hidden_layer_sizes, activation
        self.solver, self.alpha = solver, alpha
        self.batch_size, self.learning_rate_init, self.max_iter = batch_size, learning_rate_init, max_iter
        self.shuffle, self.random_state, self.tol, self.verbose = shuffle, random_state, tol, verbose
        self.warm_start, self.momentum, self.nesterovs_momentum = warm_start, momentum, nesterovs_momentum
        self.early_stopping, self.validation_fraction = early_stopping, validation_fraction
        self.beta_1, self.beta_2, self.n_iter_no_change = beta_1, beta_2, n_iter_no_change
        self.engine, self.backend, self.device, self.dtype = engine, backend, device, dtype
        self.dropout, self.batchnorm, self.l1, self.init = dropout, batchnorm, l1, init

    def fit(self, X, y):
        """Train for up to max_iter epochs (from scratch unless warm_start), stopping as scikit-learn does."""
        return self._fit(X, y, incremental=False)

    def _fit(self, X, y, incremental: bool, classes=None):
        check_params(self, self._activation)
        first = not hasattr(self, "model_") or not (incremental or self.warm_start)
        X, y = validate_data(self, X, y, reset=first, dtype=(np.float64, np.float32),
                             multi_output=self._loss == "mse", y_numeric=self._loss == "mse")
        with as_value_errors(type(self).__name__):
            y = self._encode(y, first, incremental, classes)
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            if first:
                self._initialize(X.shape[1], seed)
            early = self.early_stopping and not incremental
            X, X_val, y, y_val = self._hold_out(X, y, seed) if early else (X, None, y, None)
            self._train(Split(self._tensor(X), self._tensor(y)), X_val, y_val, incremental)
        return self

    def _initialize(self, n_features: int, seed: int) -> None:
        """A fresh model_ from the seed, with empty history."""
        generator = torch.Generator().manual_seed(seed)
        spec = ModelConfig(hidden=hidden_widths(self.hidden_layer_sizes), batchnorm=self.batchnorm,
                           dropout=self.dropout, activation=self._activation, init=self.init)
        width = self.n_outputs_ if self._loss == "mse" else len(self.classes_)
        model = build_model(spec, n_features, width, generator)
        self.model_ = model.to(self._device(), getattr(torch, self.dtype)).eval()
        self._rng_state, self._optimizer_state = generator.get_state(), None
        self.loss_curve_, self.n_iter_ = [], 0

    def _hold_out(self, X, y, seed: int):
        """Split off validation_fraction of the samples (stratified for a classifier) for early stopping."""
        stratify = y if self._loss == "cross_entropy" else None
        X, X_val, y, y_val = train_test_split(X, y, test_size=self.validation_fraction, random_state=seed,
                                              stratify=stratify)
        if len(X_val) < 2:
            raise ValueError(f"{type(self).__name__}: the validation set is too small ({len(X_val)} samples); "
                             "increase validation_fraction or the size of the data set")
        return X, X_val, y, y_val

    def _train(self, train: Split, X_val, y_val, incremental: bool) -> None:
        """Run redes' training loop over model_, keeping the batch order's and the optimizer's state."""
        generator = torch.Generator()
        generator.set_state(self._rng_state)
        batch_size = min(200, len(train)) if self.batch_size == "auto" else min(self.batch_size, len(train))
        engine_name, backend = self._engine_and_backend()
        key = (engine_name, backend, self.solver)
        engine = self._engine(batch_size, engine_name, backend)
        if incremental and self._optimizer_state is not None and self._optimizer_state[0] == key:
            engine.load_state_dict(self._optimizer_state[1])
        x_val = None if X_val is None else self._tensor(X_val)
        score = None if X_val is None else (lambda: self._score_outputs(self._forward(x_val), y_val))
        stopper = None if incremental else _Stopper(self.tol, self.n_iter_no_change, score, self._sklearn_scale)
        callbacks = [c for c in (stopper, _Verbose() if self.verbose else None) if c is not None]
        state = fit_loop(engine, train, None, self._loss, epochs=1 if incremental else self.max_iter,
                         batch_size=batch_size, sampler="shuffle" if self.shuffle else "contiguous",
                         generator=generator, callbacks=callbacks)
        self._rng_state, self._optimizer_state = generator.get_state(), (key, engine.state_dict())
        self.model_.eval()
        self._record(state, stopper)

    def _engine(self, batch_size: int, engine: str, backend: str):
        """The engine named by `engine` over model_, training scikit-learn's objective divided by its loss scale."""
        sgd = self.solver == "sgd"
        optimizer = OptimizerConfig(name=self.solver, lr=self.learning_rate_init, momentum=self.momentum if sgd else 0,
                                    nesterov=sgd and self.nesterovs_momentum and self.momentum > 0,
                                    betas=(self.beta_1, self.beta_2))
        l2 = self.alpha / (2 * batch_size * self._sklearn_scale)  # scikit-learn: + alpha / (2 B) * sum W^2
        train = TrainConfig(engine=engine, backend=backend, dtype=self.dtype, device=self.device)
        return build_engine(train, self.model_, self._loss, optimizer, RegularizationConfig(l1=self.l1, l2=l2))

    def _engine_and_backend(self) -> tuple[str, str]:
        """`engine` and `backend` with "auto" resolved. auto: the manual engine on NumPy for a small network on
        the CPU (a step under _SMALL_STEP multiply-adds, mostly the cost of each call, lower in NumPy than in
        torch), else the module engine; the same numbers either way, up to rounding (docs/scikit-learn.md)."""
        engine, backend, cpu = self.engine, self.backend, self._device().type == "cpu"
        if engine == "auto":
            batch = 200 if self.batch_size == "auto" else self.batch_size
            weights = sum(p.numel() for p in self.model_.parameters() if p.dim() == 2)
            small = batch * weights < _SMALL_STEP and cpu and backend != "torch"
            engine = "manual" if backend == "numpy" or (small and self._activation in HAND_WRITTEN) else "module"
        if backend == "auto":
            backend = "numpy" if engine == "manual" and cpu else "torch"
        return engine, backend

    @property
    def _activation(self) -> str:
        """`activation` as redes names it (scikit-learn's logistic is the sigmoid)."""
        return "sigmoid" if self.activation == "logistic" else self.activation

    def _record(self, state, stopper: Optional[_Stopper]) -> None:
        """History into loss_curve_ and n_iter_; the stopping outcome into best_loss_ or validation_scores_."""
        if state.diverged:
            raise ValueError(f"{type(self).__name__}: {state.diverged}; scale the inputs (StandardScaler) or "
                             "lower learning_rate_init")
        scale = self._sklearn_scale
        self.loss_curve_ += [scale * (row["train_loss"] + row["train_penalty"]) for row in state.history]
        self.n_iter_ += len(state.history)
        if state.interrupted:
            warnings.warn("Training interrupted by user.", stacklevel=5)
        if stopper is None:
            return
        scoring = stopper.score is not None
        self.best_loss_ = None if scoring else -stopper.best
        self.validation_scores_ = [row["val_score"] for row in state.history] if scoring else None
        self.best_validation_score_ = stopper.best if scoring else None
        if scoring:
            self.model_.load_state_dict(stopper.best_weights)
        if not state.stop and not state.interrupted:
            warnings.warn(f"{type(self).__name__}: maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=5)

    def _device(self) -> torch.device:
        return resolve_device(self.device, self.backend)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        """Inputs (and mse targets) in the model's dtype, class indices as int64, on the model's device: the
        array itself where it already is that (nothing writes into the inputs), else a copy."""
        dtype = torch.int64 if array.dtype.kind in "iu" else getattr(torch, self.dtype)
        return torch.as_tensor(np.asarray(array), dtype=dtype, device=self._device())

    def _forward(self, x: torch.Tensor) -> np.ndarray:
        """model_'s raw outputs in eval mode (no dropout, batch-norm running statistics), as float64."""
        return model_outputs(self.model_, x).double().cpu().numpy()

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self._forward(self._tensor(X))


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier (softmax cross-entropy, one logit per class) trained by redes."""

    _loss = "cross_entropy"

    def partial_fit(self, X, y, classes=None):
        """One epoch over X, y, continuing the model and optimizer; `classes` is required on the first call."""
        return self._fit(X, y, incremental=True, classes=classes)

    def predict(self, X) -> np.ndarray:
        indices = self._outputs(X).argmax(axis=1)
        return self.classes_[indices]

    def predict_proba(self, X) -> np.ndarray:
        """(n_samples, n_classes) softmax probabilities, columns in the order of classes_."""
        return softmax(self._outputs(X), axis=1)

    def predict_log_proba(self, X) -> np.ndarray:
        return log_softmax(self._outputs(X), axis=1)

    def _encode(self, y: np.ndarray, first: bool, incremental: bool, classes) -> np.ndarray:
        """Class indices 0..K-1 of any labels; classes_ from `classes` (partial_fit) or from y (fit)."""
        check_classification_targets(y)
        if incremental and first and classes is None:
            raise ValueError(f"{type(self).__name__}: classes must be passed on the first call to partial_fit")
        if first:
            self._label_encoder = LabelEncoder().fit(unique_labels(y) if classes is None else unique_labels(classes))
            self.classes_ = self._label_encoder.classes_
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"{type(self).__name__}: classes={classes!r} differs from the first call's "
                             f"{self.classes_!r}")
        return self._label_encoder.transform(y)

    def _score_outputs(self, outputs: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(outputs.argmax(axis=1) == y))


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor (mean squared error, one output per target) trained by redes."""

    _loss = "mse"
    _sklearn_scale = 0.5

    def partial_fit(self, X, y):
        """One epoch over X, y, continuing the model and optimizer state."""
        return self._fit(X, y, incremental=True)

    def predict(self, X) -> np.ndarray:
        """(n_samples,) when fitted on a 1-D y, else (n_samples, n_outputs_)."""
        outputs = self._outputs(X)
        return outputs.ravel() if self._y_ndim == 1 else outputs

    def _encode(self, y: np.ndarray, first: bool, incremental: bool, classes) -> np.ndarray:
        """y as a (n_samples, n_outputs) float matrix; n_outputs_ fixed by the first call."""
        matrix = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if first:
            self.n_outputs_, self._y_ndim = matrix.shape[1], y.ndim
        elif matrix.shape[1] != self.n_outputs_:
            raise ValueError(f"{type(self).__name__}: y has {matrix.shape[1]} targets, the model was fitted "
                             f"with {self.n_outputs_}")
        return matrix

    def _score_outputs(self, outputs: np.ndarray, y: np.ndarray) -> float:
        return float(r2_score(y, outputs))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
