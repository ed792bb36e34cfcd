"""scikit-learn's MLPClassifier against redes.MLPClassifier on digits, with the same architecture (64-128-64-10,
ReLU), solver (SGD, lr 0.05, Nesterov momentum 0.9), L2 (alpha 1e-4), batch size (32) and epochs (all of
`--epochs`: tol=0 and n_iter_no_change > epochs, so neither stops early), timed in one process, fits
interleaved, best of `--repeats`. Target: redes >= 2x faster at equal or better test accuracy.

    .venv/bin/python benchmarks/sklearn_mlp.py             # about 30 s on 2 idle cores
    .venv/bin/python benchmarks/sklearn_mlp.py --json
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a fresh clone finds redes

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SklearnMLP  # noqa: E402

import redes  # noqa: E402
import torch  # noqa: E402
from redes.bench import interleaved, script_arguments, verdict  # noqa: E402


def main(argv=None) -> int:
    args = script_arguments(__doc__, argv, epochs=50, repeats=5)
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16, y, test_size=0.25, stratify=y, random_state=0)
    same = dict(hidden_layer_sizes=(128, 64), solver="sgd", learning_rate_init=0.05, momentum=0.9, alpha=1e-4,
                batch_size=32, max_iter=args.epochs, tol=0.0, n_iter_no_change=args.epochs + 1, random_state=0)
    accuracy = {}

    def timed(name, estimator):
        def run() -> float:
            start = time.perf_counter()
            estimator.fit(x_train, y_train)
            seconds = time.perf_counter() - start
            accuracy[name] = estimator.score(x_test, y_test)
            return seconds
        return run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "maximum iterations reached": the epochs are fixed on purpose
        seconds = interleaved({"scikit-learn": timed("scikit-learn", SklearnMLP(**same)),
                               "redes": timed("redes", redes.MLPClassifier(**same))}, args.repeats)
    ratio = seconds["scikit-learn"] / seconds["redes"]
    if args.json:
        print(json.dumps({"seconds": seconds, "test_accuracy": accuracy, "ratio": ratio}))
        return 0
    print(f"digits, {len(x_train)} train / {len(x_test)} test, {args.epochs} epochs, best of {args.repeats}, "
          f"{torch.get_num_threads()} torch threads")
    for name in seconds:
        print(f"  {name:<13} {seconds[name]:6.2f} s   test accuracy {accuracy[name]:.4f}")
    print(verdict("scikit-learn / redes", ratio, 2.0, at_least=True))
    print(f"{'test accuracy, redes - scikit-learn':<34} {accuracy['redes'] - accuracy['scikit-learn']:+.4f}"
          f"   target >= 0   {'met' if accuracy['redes'] >= accuracy['scikit-learn'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
