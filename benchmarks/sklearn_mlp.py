"""scikit-learn's MLPClassifier against redes.MLPClassifier on digits, with the same architecture (64-128-64-10,
ReLU), solver (SGD, lr 0.05, Nesterov momentum 0.9), L2 (alpha 1e-4), batch size (32) and epochs (all of
`--epochs`: tol=0 and n_iter_no_change > epochs, so neither stops early), timed in one process, fits
interleaved, best of `--repeats`. Target: redes >= 2x faster at equal or better test accuracy.

Candidates: scikit-learn; redes as it comes (engine="auto", which picks the manual engine on NumPy for a
network this small); redes with engine="module" (nn.Module + torch.optim); and, as a reference that no
library can beat, the same training written as one bare NumPy loop (`numpy_floor`: no classes, no
checks, no bookkeeping, one BLAS thread). Test accuracy is the mean over `--seeds` random_states (one seed's
accuracy differs from another's by a point or two: initialisation and shuffling); the redes - scikit-learn gap
is paired by random_state and printed with its standard error: "equal within noise" when it is negative by
less than two standard errors.

    .venv/bin/python benchmarks/sklearn_mlp.py             # about 80 s on 2 idle cores
    .venv/bin/python benchmarks/sklearn_mlp.py --json
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a fresh clone finds redes

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SklearnMLP  # noqa: E402

import redes  # noqa: E402
import torch  # noqa: E402
from harness import script_arguments, verdict  # noqa: E402
from redes.bench.suite import interleaved  # noqa: E402
from redes.arrays import one_blas_thread  # noqa: E402

HIDDEN, LR, MOMENTUM, ALPHA, BATCH = (128, 64), 0.05, 0.9, 1e-4, 32


def numpy_floor(x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> list[np.ndarray]:
    """The same training as one bare NumPy loop in float32: ReLU MLP, softmax cross-entropy, alpha * W / B added
    to the weight gradients, Nesterov SGD (scikit-learn's update); returns the weights and biases."""
    rng = np.random.default_rng(seed)
    sizes = [x.shape[1], *HIDDEN, int(y.max()) + 1]
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(6 / (n_in + n_out))  # scikit-learn's Glorot uniform
        params += [rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32),
                   rng.uniform(-bound, bound, n_out).astype(np.float32)]
    velocities = [np.zeros_like(p) for p in params]
    x = x.astype(np.float32)
    with one_blas_thread():
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for start in range(0, len(x), BATCH):
                index = order[start:start + BATCH]
                activations = [x[index]]
                for i in range(0, len(params), 2):
                    u = activations[-1] @ params[i].T
                    u += params[i + 1]
                    activations.append(np.maximum(u, 0, out=u) if i + 2 < len(params) else u)
                u = activations.pop()
                u -= u.max(axis=1, keepdims=True)
                d = np.exp(u)
                d /= d.sum(axis=1, keepdims=True)
                d[np.arange(len(index)), y[index]] -= 1
                d /= len(index)
                grads = [None] * len(params)
                for i in range(len(params) - 2, -1, -2):
                    h = activations[i // 2]
                    grads[i], grads[i + 1] = d.T @ h + (ALPHA / len(index)) * params[i], d.sum(axis=0)
                    if i:
                        d = d @ params[i]
                        d *= h > 0
                for p, g, v in zip(params, grads, velocities):  # v = m v - lr g; p += m v - lr g
                    v *= MOMENTUM
                    v -= LR * g
                    p += MOMENTUM * v - LR * g
    return params


def floor_accuracy(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    h = x.astype(np.float32)
    for i in range(0, len(params), 2):
        h = h @ params[i].T + params[i + 1]
        h = np.maximum(h, 0) if i + 2 < len(params) else h
    return float(np.mean(h.argmax(axis=1) == y))


def main(argv=None) -> int:
    args = script_arguments(__doc__, argv, epochs=50, repeats=5, seeds=10)
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16, y, test_size=0.25, stratify=y, random_state=0)
    same = dict(hidden_layer_sizes=HIDDEN, solver="sgd", learning_rate_init=LR, momentum=MOMENTUM, alpha=ALPHA,
                batch_size=BATCH, max_iter=args.epochs, tol=0.0, n_iter_no_change=args.epochs + 1)
    makers = {"scikit-learn": lambda seed: SklearnMLP(**same, random_state=seed),
              "redes": lambda seed: redes.MLPClassifier(**same, random_state=seed),
              "redes module": lambda seed: redes.MLPClassifier(**same, random_state=seed, engine="module")}
    names = [*makers, "numpy floor"]

    def fit_once(name: str, seed: int) -> tuple[float, float]:
        """Seconds to fit, and test accuracy."""
        start = time.perf_counter()
        if name == "numpy floor":
            params = numpy_floor(x_train, y_train, args.epochs, seed)
            return time.perf_counter() - start, floor_accuracy(params, x_test, y_test)
        estimator = makers[name](seed).fit(x_train, y_train)
        return time.perf_counter() - start, estimator.score(x_test, y_test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "maximum iterations reached": the epochs are fixed on purpose
        seconds = interleaved({name: (lambda name=name: fit_once(name, 0)[0]) for name in names}, args.repeats)
        per_seed = {name: np.array([fit_once(name, seed)[1] for seed in range(args.seeds)]) for name in names}
    accuracy = {name: float(values.mean()) for name, values in per_seed.items()}
    gaps = per_seed["redes"] - per_seed["scikit-learn"]  # paired: the same random_state for both
    gap, error = float(gaps.mean()), float(gaps.std(ddof=1) / np.sqrt(len(gaps))) if len(gaps) > 1 else 0.0
    ratios = {name: seconds["scikit-learn"] / seconds[name] for name in seconds if name != "scikit-learn"}
    if args.json:
        print(json.dumps({"seconds": seconds, "mean_test_accuracy": accuracy, "ratios": ratios,
                          "accuracy_gap": {"mean": gap, "standard_error": error}}))
        return 0
    print(f"digits, {len(x_train)} train / {len(x_test)} test, {args.epochs} epochs, best of {args.repeats}, "
          f"{torch.get_num_threads()} torch threads; test accuracy: mean over {args.seeds} random_states")
    for name in seconds:
        print(f"  {name:<19} {seconds[name]:6.2f} s  scikit-learn / it {seconds['scikit-learn'] / seconds[name]:5.2f}x"
              f"   test accuracy {accuracy[name]:.4f}")
    print(verdict("scikit-learn / redes", ratios["redes"], 2.0, at_least=True))
    outcome = "met" if gap >= 0 else "equal within noise" if gap + 2 * error >= 0 else "MISSED"
    print(f"{'test accuracy, redes - scikit-learn':<34} {gap:+.4f} ± {error:.4f} (mean ± s.e. over {args.seeds} "
          f"random_states)   target >= 0   {outcome}")
    print(f"(reference: a bare NumPy loop of the same training is {ratios['numpy floor']:.2f}x scikit-learn)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
