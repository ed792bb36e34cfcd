"""What a user waits for: whole processes, start to exit, each command in its own fresh subprocess.

The commands of one comparison are alternated A B A B ... (after one untimed run of each: the file cache,
.pyc files), so that a burst of load elsewhere hits every command alike; each figure is the median of
`--repeats` runs, printed with its min and max. Every file (runs, .npz data, scripts) goes into a temporary
directory, and every command runs there. `redes train` and `redes sweep` run with their output on a
pseudo-terminal, as a user at a terminal runs them: their pictures are then drawn by a process of their own
after the results are printed (piped, before the command ends); the next command starts once they are
written, untimed.

Targets (`--only` takes these names):
  train_default  `redes train` of the default run: its wall time
                 / (wall time of `python -c "import torch"` + the run's training seconds, timing.csv)  <= 1.3x
  train_file     `redes train` with data.name=file on an .npz, against a bare PyTorch script (nn.Sequential,
                 torch.optim, a hand-written loop) that loads the same .npz, trains the same MLP with the same
                 optimizer, batch size, epochs and shuffling, and prints its test accuracy:
                 redes wall / bare wall  <= 1.0x on each workload
                   W1  digits, 64-100-10 ReLU, Adam lr 1e-3, batch 200, 100 epochs
                   W2  digits, 64-128-64-10 ReLU, Adam lr 1e-3, batch 32, 30 epochs
                   W4  50,000 random rows of 3072 float32 features, 10 random classes, 3072-512-256-10 ReLU,
                       SGD lr 0.01 momentum 0.9, batch 128, 1 epoch (--quick: 5,000 rows)
  estimator      a script fitting redes.MLPClassifier on digits and printing its test score, against the same
                 script with sklearn.neural_network.MLPClassifier (tol=0 and n_iter_no_change > max_iter, so both
                 run every epoch): whole process redes / scikit-learn <= 1.3x, and the fit alone (each script
                 times its own fit) scikit-learn / redes >= 1.5x, for
                   adam  hidden (100,), Adam lr 1e-3, batch 200, 100 epochs
                   sgd   hidden (128, 64), SGD lr 0.05 Nesterov momentum 0.9, batch 32, 30 epochs
                 (with the floor of the whole-process ratio: scikit-learn's script with redes' fit in its place,
                 plus importing torch); and on W4, redes.MLPClassifier's fit / the bare script's loop <= 1.0x
  config_error   `redes train --set model.hiden=[3]`, `redes train --set train.epochs=-1`, a sweep file with a
                 mistyped key and a misspelt search preset, each answered in <= 1.5x the time of `redes --help`
  sweep          `redes sweep` of 4 one-epoch digits points: (sweep wall - `import torch` wall - the points'
                 training seconds) / points <= 0.3 s, printed as that overhead / 0.3 s <= 1.0x
  busy           the default run's mean epoch seconds with a busy-loop process (`while True: pass`, started
                 and stopped here) running beside it / without it  <= 1.5x

Test accuracies are printed beside the times, so that "at equal accuracy" can be checked. `--threads N` sets
OMP_NUM_THREADS=N for every measured process (torch's and the BLAS's threads), alike on both sides.

    .venv/bin/python benchmarks/whole_process.py                      # every target, 5 repeats
    .venv/bin/python benchmarks/whole_process.py --quick              # 2 repeats, a smaller W4
    .venv/bin/python benchmarks/whole_process.py --only train_default
    .venv/bin/python benchmarks/whole_process.py --json               # last line: one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import script_arguments, verdict

from redes.bench.suite import timed_rounds  # one untimed round, then rounds of A B A B ...
from redes.runs.run import read_history
from redes.runs.writer import writing

PYTHON = sys.executable
_SCRIPT = Path(PYTHON).parent / "redes"
REDES = [str(_SCRIPT)] if _SCRIPT.is_file() else [PYTHON, "-m", "redes"]
IMPORT_TORCH = [PYTHON, "-c", "import torch"]
TARGETS = ("train_default", "train_file", "estimator", "config_error", "sweep", "busy")  # run in this order

Sample = dict  # one run of one command: {"wall": seconds, ...the figures read from its output}


# ---------------------------------------------------------------- running commands


class Runner:
    """Runs commands as fresh subprocesses inside the temporary directory and times them start to exit."""

    def __init__(self, workdir: Path, threads: int):
        self.workdir, self.count = workdir, 0
        self.env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))

    def fresh(self, stem: str) -> Path:
        """A path in the temporary directory that does not exist yet."""
        self.count += 1
        return self.workdir / f"{stem}-{self.count:04d}"

    def timed(self, command: list[str], ok: bool = True) -> tuple[float, subprocess.CompletedProcess]:
        """Wall seconds of `command`, and its result; it must succeed (`ok`) or fail (not `ok`)."""
        start = time.perf_counter()
        done = subprocess.run(command, cwd=self.workdir, env=self.env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        _check_status(command, done.returncode, done.stderr, ok)
        return seconds, done

    def at_a_terminal(self, command: list[str]) -> float:
        """Wall seconds of `command` with its output on a pseudo-terminal, as a user at a terminal runs it; it
        must succeed."""
        leader, follower = pty.openpty()
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=self.workdir, env=self.env, stdout=follower, stderr=follower)
        os.close(follower)
        shown = []
        try:
            while chunk := os.read(leader, 65536):  # what the terminal shows, read so that the writer never blocks
                shown.append(chunk)
        except OSError:  # the last writer closed it
            pass
        status = process.wait()
        seconds = time.perf_counter() - start
        os.close(leader)
        _check_status(command, status, b"".join(shown).decode(errors="replace"), True)
        return seconds

    def wall(self, command: list[str], ok: bool = True) -> Sample:
        return {"wall": self.timed(command, ok)[0]}

    def printed(self, command: list[str]) -> Sample:
        """Wall seconds and the JSON object the command prints on its last line."""
        seconds, done = self.timed(command)
        return {"wall": seconds, **json.loads(done.stdout.strip().splitlines()[-1])}

    def redes_train(self, settings: dict[str, object], beside: list[str] | None = None) -> Sample:
        """`redes train --out NEW --set k=v ...` (with `beside` running meanwhile): its wall seconds, training
        seconds (the sum of timing.csv), mean epoch seconds and test accuracy."""
        out = self.fresh("run")
        command = [*REDES, "train", "--out", str(out), *(a for k, v in settings.items() for a in ("--set", f"{k}={v}"))]
        other = subprocess.Popen(beside, env=self.env) if beside else None
        try:
            seconds = self.at_a_terminal(command)
        finally:
            if other:
                other.terminate()
                other.wait()
        _wait_for_pictures(out)
        epochs = [row["seconds"] for row in read_history(out)]  # timing.csv
        return {"wall": seconds, "training": sum(epochs), "epoch": statistics.mean(epochs),
                "accuracy": json.loads((out / "summary.json").read_text())["test"]["accuracy"]}


def _check_status(command: list[str], status: int, output: str, ok: bool) -> None:
    if (status == 0) != ok:
        raise RuntimeError(f"{' '.join(command)} exited {status}:\n{output[-2000:]}")


def _wait_for_pictures(run_dir: Path) -> None:
    """Untimed: wait for the process that draws a run's (or a sweep's) pictures after `redes train` has ended
    (as a user reads the results before the next command), so that it takes no core from the next command."""
    with writing(run_dir):
        if not (run_dir / "plots" / "learning_curves.png").is_file():
            raise RuntimeError(f"{run_dir}: no pictures drawn")


def median(samples: list[Sample], field: str = "wall") -> float:
    return statistics.median(sample[field] for sample in samples)


def table(title: str, samples: dict[str, list[Sample]], fields: dict[str, str]) -> None:
    """One line per command: each field's median [min, max] (blank where the command has no such figure);
    `fields` maps a field to its column title."""
    print(f"\n{title}")
    print(f"  {'':<36}" + "".join(f"{heading:>28}" for heading in fields.values()))
    for name, runs in samples.items():
        cells = []
        for field in fields:
            values = [run[field] for run in runs if field in run]
            cells.append(f"{statistics.median(values):9.3f} [{min(values):.3f}, {max(values):.3f}]" if values else "")
        print(f"  {name:<36}" + "".join(f"{cell:>28}" for cell in cells))


class Report:
    """The ratios measured so far and their verdict lines."""

    def __init__(self):
        self.ratios: dict[str, float] = {}
        self.lines: list[str] = []

    def add(self, name: str, ratio: float, target: float, at_least: bool = False) -> None:
        self.ratios[name] = ratio
        self.lines.append(verdict(name, ratio, target, at_least))
        print(self.lines[-1])

    def note(self, name: str, ratio: float) -> None:
        """A ratio without a target: what bounds another one."""
        self.ratios[name] = ratio
        self.lines.append(f"{name:<34} {ratio:6.2f}x   (no target)")
        print(self.lines[-1])


# ---------------------------------------------------------------- data and scripts written for the comparisons


def digits_npz(path: Path) -> Path:
    """scikit-learn's digits / 16 as float32, 75% train (x, y) and 25% test (x_test, y_test), stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split((x / 16).astype(np.float32), y, test_size=0.25,
                                                        stratify=y, random_state=0)
    np.savez(path, x=x_train, y=y_train, x_test=x_test, y_test=y_test)
    return path


def random_npz(path: Path, rows: int, test_rows: int, features: int = 3072, classes: int = 10) -> Path:
    """Normal float32 features and uniformly random classes (nothing to learn: a timing workload)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows + test_rows, features), dtype=np.float32)
    y = rng.integers(0, classes, rows + test_rows)
    np.savez(path, x=x[:rows], y=y[:rows], x_test=x[rows:], y_test=y[rows:])
    return path


BARE_PYTORCH = '''\
"""Train an MLP on an .npz (x, y, x_test, y_test) with a hand-written loop; print its seconds and test accuracy."""
import json
import sys
import time

import numpy as np
import torch
import torch._dynamo  # noqa: F401 - imported by torch.optim at its first use; here, outside the timed fit
from torch import nn

spec = json.loads(sys.argv[2])
data = np.load(sys.argv[1])
x, y = torch.from_numpy(data["x"]).float(), torch.from_numpy(data["y"]).long()
x_test, y_test = torch.from_numpy(data["x_test"]).float(), torch.from_numpy(data["y_test"]).long()
began = time.perf_counter()  # "fit": from the data in memory to a trained model, as an estimator's fit
torch.manual_seed(0)
layers, width = [], x.shape[1]
for hidden in spec["hidden"]:
    layers += [nn.Linear(width, hidden), nn.ReLU()]
    width = hidden
model = nn.Sequential(*layers, nn.Linear(width, int(max(y.max(), y_test.max())) + 1))
if spec["optimizer"] == "adam":
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"])
else:
    optimizer = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
loss_fn = nn.CrossEntropyLoss()
for epoch in range(spec["epochs"]):
    order = torch.randperm(len(x))
    for start in range(0, len(x), spec["batch"]):
        index = order[start:start + spec["batch"]]
        loss = loss_fn(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
seconds = time.perf_counter() - began
with torch.no_grad():
    accuracy = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
print(json.dumps({"fit": seconds, "accuracy": accuracy}))
'''

ESTIMATOR_SCRIPT = '''\
"""Fit an MLPClassifier on digits, or on an .npz's x, y, x_test and y_test; print its fit seconds and test
accuracy."""
import json
import sys
import time
import warnings

import numpy as np

from {module} import MLPClassifier

if len(sys.argv) > 2:
    data = np.load(sys.argv[2])
    x_train, y_train, x_test, y_test = data["x"], data["y"], data["x_test"], data["y_test"]
else:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16, y, test_size=0.25, stratify=y, random_state=0)
warnings.simplefilter("ignore")  # "maximum iterations reached": the epochs are fixed on purpose
start = time.perf_counter()
model = MLPClassifier(**json.loads(sys.argv[1]), random_state=0).fit(x_train, y_train)
seconds = time.perf_counter() - start
print(json.dumps({{"fit": seconds, "accuracy": model.score(x_test, y_test)}}))
'''


def write_script(path: Path, text: str) -> list[str]:
    path.write_text(text)
    return [PYTHON, str(path)]


# ---------------------------------------------------------------- the targets


def train_default(runner: Runner, args, report: Report) -> None:
    samples = timed_rounds({"python -c 'import torch'": lambda: runner.wall(IMPORT_TORCH),
                            "redes train": lambda: runner.redes_train({})}, args.repeats)
    table("train_default: `redes train` (the default run) against importing torch plus its training",
          samples, {"wall": "wall s", "training": "training s", "accuracy": "test accuracy"})
    floor = median(samples["python -c 'import torch'"]) + median(samples["redes train"], "training")
    report.add("redes train / (import + training)", median(samples["redes train"]) / floor, 1.3)


WORKLOADS = {  # name: (data, hidden, optimizer, lr, momentum, batch, epochs)
    "W1": ("digits", [100], "adam", 1e-3, 0.0, 200, 100),
    "W2": ("digits", [128, 64], "adam", 1e-3, 0.0, 32, 30),
    "W4": ("random", [512, 256], "sgd", 0.01, 0.9, 128, 1),
}


def _w4_data(runner: Runner, args) -> tuple[Path, int]:
    """W4's .npz (written once) and its training rows."""
    rows, path = 5_000 if args.quick else 50_000, runner.workdir / "random.npz"
    return (path if path.is_file() else random_npz(path, rows, rows // 10)), rows


def _bare_spec(name: str) -> str:
    """The bare script's argument for a workload."""
    _, hidden, optimizer, lr, momentum, batch, epochs = WORKLOADS[name]
    return json.dumps({"hidden": hidden, "optimizer": optimizer, "lr": lr, "momentum": momentum, "batch": batch,
                       "epochs": epochs})


def train_file(runner: Runner, args, report: Report) -> None:
    bare = write_script(runner.workdir / "bare_pytorch.py", BARE_PYTORCH)
    digits = digits_npz(runner.workdir / "digits.npz")
    for name, (data, hidden, optimizer, lr, momentum, batch, epochs) in WORKLOADS.items():
        path, rows = (digits, 0) if data == "digits" else _w4_data(runner, args)
        settings = {"data.name": "file", "data.path": path, "data.val_fraction": 0, "data.scale": "none",
                    "model.hidden": json.dumps(hidden), "optimizer.name": optimizer, "optimizer.lr": lr,
                    "train.batch_size": batch, "train.epochs": epochs}
        if momentum:
            settings["optimizer.momentum"] = momentum
        spec = _bare_spec(name)
        samples = timed_rounds({"redes train (data.name=file)": lambda: runner.redes_train(settings),
                                "bare PyTorch script": lambda: runner.printed([*bare, str(path), spec])}, args.repeats)
        size = f"{rows:,} rows" if data == "random" else "digits"
        table(f"train_file {name}: {size}, hidden {hidden}, {optimizer} lr {lr}, batch {batch}, {epochs} epochs",
              samples, {"wall": "wall s", "accuracy": "test accuracy"})
        ratio = median(samples["redes train (data.name=file)"]) / median(samples["bare PyTorch script"])
        report.add(f"{name}: redes train / bare PyTorch", ratio, 1.0)


SETTINGS = {
    "adam": dict(hidden_layer_sizes=[100], solver="adam", learning_rate_init=1e-3, batch_size=200, max_iter=100),
    "sgd": dict(hidden_layer_sizes=[128, 64], solver="sgd", learning_rate_init=0.05, momentum=0.9,
                nesterovs_momentum=True, batch_size=32, max_iter=30),
}


def estimator(runner: Runner, args, report: Report) -> None:
    scripts = {label: write_script(runner.workdir / f"fit_{module.split('.')[0]}.py",
                                   ESTIMATOR_SCRIPT.format(module=module))
               for label, module in (("redes", "redes"), ("scikit-learn", "sklearn.neural_network"))}
    for name, setting in SETTINGS.items():
        params = json.dumps({**setting, "tol": 0.0, "n_iter_no_change": setting["max_iter"] + 1,
                             "early_stopping": False})
        commands = {f"{label} MLPClassifier": (lambda script=script: runner.printed([*script, params]))
                    for label, script in scripts.items()}
        samples = timed_rounds({**commands, "python -c 'import torch'": lambda: runner.wall(IMPORT_TORCH)},
                               args.repeats)
        table(f"estimator {name}: {setting}", samples,
              {"wall": "wall s", "fit": "fit s", "accuracy": "test accuracy"})
        redes, sklearn = samples["redes MLPClassifier"], samples["scikit-learn MLPClassifier"]
        report.add(f"{name}: whole, redes / scikit-learn", median(redes) / median(sklearn), 1.3)
        # The least redes' script can take: scikit-learn's (it loads and splits the data with scikit-learn too),
        # with redes' fit in place of scikit-learn's, plus importing torch.
        floor = median(sklearn) - median(sklearn, "fit") + median(redes, "fit") + median(samples[
            "python -c 'import torch'"])
        report.note(f"{name}: whole, its floor (torch import)", floor / median(sklearn))
        report.note(f"{name}: whole, redes / its floor", median(redes) / floor)
        report.add(f"{name}: fit, scikit-learn / redes", median(sklearn, "fit") / median(redes, "fit"), 1.5,
                   at_least=True)
    _estimator_on_w4(runner, args, report, scripts["redes"])


def _estimator_on_w4(runner: Runner, args, report: Report, script: list[str]) -> None:
    """redes.MLPClassifier's fit on W4 against the bare loop's (each timed inside its script)."""
    bare = write_script(runner.workdir / "bare_pytorch.py", BARE_PYTORCH)
    path, rows = _w4_data(runner, args)
    _, hidden, _, lr, momentum, batch, epochs = WORKLOADS["W4"]
    params = json.dumps({"hidden_layer_sizes": hidden, "solver": "sgd", "learning_rate_init": lr,
                         "momentum": momentum, "nesterovs_momentum": False, "batch_size": batch, "max_iter": epochs,
                         "tol": 0.0, "n_iter_no_change": epochs + 1, "early_stopping": False,
                         "alpha": 0.0})  # the bare loop has no L2 penalty
    samples = timed_rounds({"redes MLPClassifier": lambda: runner.printed([*script, params, str(path)]),
                            "bare PyTorch script": lambda: runner.printed([*bare, str(path), _bare_spec("W4")])},
                           args.repeats)
    table(f"estimator W4: {rows:,} rows, hidden {hidden}, sgd lr {lr} momentum {momentum}, batch {batch}, "
          f"{epochs} epoch", samples, {"wall": "wall s", "fit": "fit s", "accuracy": "test accuracy"})
    report.add("W4: fit, redes MLPClassifier / bare", median(samples["redes MLPClassifier"], "fit")
               / median(samples["bare PyTorch script"], "fit"), 1.0)


CONFIG_ERRORS = ("model.hiden=[3]", "train.epochs=-1")
BAD_SWEEP = "base: digits\naxes:\n  train.batchsize: [32, 64]\n"  # a mistyped key in a sweep file


def config_error(runner: Runner, args, report: Report) -> None:
    (runner.workdir / "bad_sweep.yaml").write_text(BAD_SWEEP)
    mistakes = {f"redes train --set {setting}": ["train", "--set", setting] for setting in CONFIG_ERRORS}
    mistakes["redes sweep bad_sweep.yaml"] = ["sweep", "bad_sweep.yaml"]
    mistakes["redes search digts"] = ["search", "digts"]  # a misspelt preset
    commands = {"redes --help": lambda: runner.wall([*REDES, "--help"])}
    for name, arguments in mistakes.items():
        commands[name] = lambda arguments=arguments: runner.wall([*REDES, *arguments], ok=False)
    samples = timed_rounds(commands, args.repeats)
    table("config_error: a mistyped or invalid key, file or name, against `redes --help`", samples, {"wall": "wall s"})
    for name in mistakes:
        ratio = median(samples[name]) / median(samples["redes --help"])
        report.add(f"{name.removeprefix('redes ')} / --help", ratio, 1.5)


SWEEP_FILE = """\
# Four one-epoch points of the default digits run.
base: {}
set: {train.epochs: 1}
axes:
  train.batch_size: [32, 64]
seeds: [0, 1]
"""


def sweep(runner: Runner, args, report: Report) -> None:
    sweep_file = runner.workdir / "tiny_sweep.yaml"
    sweep_file.write_text(SWEEP_FILE)

    def run_sweep() -> Sample:
        out = runner.fresh("sweep")
        seconds = runner.at_a_terminal([*REDES, "sweep", str(sweep_file), "--out", str(out)])
        _wait_for_pictures(out)
        points = sorted(out.glob("*/timing.csv"))
        return {"wall": seconds, "training": sum(row["seconds"] for p in points for row in read_history(p.parent)),
                "points": len(points)}

    samples = timed_rounds({"python -c 'import torch'": lambda: runner.wall(IMPORT_TORCH), "redes sweep": run_sweep},
                           args.repeats)
    table("sweep: `redes sweep` of 4 one-epoch digits points, against importing torch plus the training",
          samples, {"wall": "wall s", "training": "training s"})
    points = median(samples["redes sweep"], "points")
    overhead = (median(samples["redes sweep"]) - median(samples["python -c 'import torch'"])
                - median(samples["redes sweep"], "training")) / points
    print(f"overhead beyond importing torch and training: {overhead:.3f} s a point ({points:.0f} points)")
    report.ratios["sweep overhead a point, seconds"] = overhead
    report.add("sweep overhead a point / 0.3 s", overhead / 0.3, 1.0)


BUSY_LOOP = [PYTHON, "-c", "while True: pass"]


def busy(runner: Runner, args, report: Report) -> None:
    samples = timed_rounds({"redes train": lambda: runner.redes_train({}),
                            "redes train, busy loop beside": lambda: runner.redes_train({}, beside=BUSY_LOOP)},
                           args.repeats)
    table("busy: the default run with and without a busy-loop process beside it", samples,
          {"epoch": "mean epoch s", "wall": "wall s", "accuracy": "test accuracy"})
    ratio = median(samples["redes train, busy loop beside"], "epoch") / median(samples["redes train"], "epoch")
    report.add("busy / idle, mean epoch seconds", ratio, 1.5)


# ---------------------------------------------------------------- main

MEASURES = {"train_default": train_default, "train_file": train_file, "estimator": estimator,
            "config_error": config_error, "sweep": sweep, "busy": busy}


def arguments(argv) -> argparse.Namespace:
    """harness.script_arguments' options (--repeats, --threads, --json) and this script's --quick and --only."""
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--quick", action="store_true", help="2 repeats unless --repeats, and W4 on 5,000 rows")
    own.add_argument("--only", nargs="+", choices=TARGETS, default=list(TARGETS), metavar="NAME",
                     help=f"run only these targets: {', '.join(TARGETS)}")
    known, rest = own.parse_known_args(argv)
    if {"-h", "--help"} & set(rest):
        print(own.format_help().split("\n", 2)[2])  # this script's options, before script_arguments' help
    args = script_arguments(__doc__, rest, repeats=0)
    args.quick, args.only = known.quick, known.only
    args.repeats = args.repeats or (2 if args.quick else 5)
    return args


def main(argv=None) -> int:
    args = arguments(argv)
    import torch

    load_before = os.getloadavg()[0]
    threads = f"OMP_NUM_THREADS={args.threads}" if args.threads else "default threads"
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, {os.cpu_count()} CPUs, {threads}; "
          f"median of {args.repeats} repeats; load average {load_before:.2f}")
    report, start = Report(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="redes-whole-") as tmp:
        runner = Runner(Path(tmp), args.threads)
        for name in TARGETS:
            if name in args.only:
                MEASURES[name](runner, args, report)
    load_after = os.getloadavg()[0]
    print(f"\n{time.perf_counter() - start:.0f} s in all; load average at the end {load_after:.2f}")
    print("\n".join(report.lines))
    if args.json:
        print(json.dumps({"repeats": args.repeats, "quick": args.quick, "load_average": [load_before, load_after],
                          "ratios": report.ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
