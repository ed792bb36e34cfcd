"""The `redes` command's arguments: every subcommand, its options and the help that teaches them."""

from __future__ import annotations

import argparse
import re
import sys

from redes.errors import did_you_mean

EXAMPLES = """examples:
  redes train                                   an MLP on scikit-learn's digits, then its report
  redes train notebook001 --set train.epochs=5 --set model.hidden=[256,128]   a preset, by name
  redes train --set data.name=file --set data.path=mydata.csv --json
  redes resume runs/digits-001                  continue a run stopped by Ctrl-C or kill -9
  redes eval runs/digits-001 --split val
  redes predict runs/digits-001 new_inputs.csv --out predictions.csv
  redes check engines --steps 50                module, autograd and manual engines agree to 1e-10
  redes check linear notebook003                notebook 003's line fitted every way, beside scikit-learn
  redes explain notebook000                     the equations of notebook 000's network, with shapes
  redes graph notebook003 --out loss.svg        the autograd graph of the loss (.dot needs no Graphviz)
  redes plot activations                        every activation and its derivative, in one PNG
  redes export runs/digits-001 --format onnx    the model, input scaling included, for onnxruntime
  redes sweep batch_size                        notebook 000's batch-size experiment: table and plots
  redes search digits                           Optuna search; the best config in searches/.../best.yaml
  redes bench                                   speed on this machine, as ratios against the notebooks
  redes config --show                           every config key with its default and meaning
  redes presets                                 the configs, sweeps and searches that come with redes
  redes completion bash > ~/.local/share/bash-completion/completions/redes   tab completion in bash
"""


class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line error, `redes: error: ...` and exit status 2, which suggests the
    nearest command or option for a mistyped one."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self._commands().get(getattr(parsed, "command", None), self)
            unknown = next((extra for extra in extras if extra.startswith("-")), extras[0])
            command.error(f"unrecognized argument {unknown}" + did_you_mean(unknown, command._option_string_actions))
        return parsed

    def error(self, message: str):  # type: ignore[override]
        invalid = re.match(r"argument COMMAND: invalid choice: '(.*?)'", message)
        if invalid:
            message = f"no command {invalid[1]!r}{did_you_mean(invalid[1], self._commands())}"
        sys.stderr.write(f"redes: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)

    def _commands(self) -> dict[str, argparse.ArgumentParser]:
        """This parser's subcommands by name (none for a subcommand's own parser)."""
        actions = [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(actions[0].choices) if actions else {}


class _Version(argparse.Action):
    """--version, the installed package's, read only when asked (reading the metadata takes time)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from redes import __version__

        print(f"redes {__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from redes.config import describe_keys

    parser = _Parser(prog="redes", description="Build, train, study and compare feed-forward neural networks "
                     "with PyTorch.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version, nargs=0, help="print redes' version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    train = commands.add_parser(
        "train", help="train a model from a config and write a run directory",
        description="Train the model a config describes (default: an MLP on scikit-learn's digits), print the "
                    "progress and the test report, and write a new run directory (config.yaml, metrics.csv, "
                    "summary.json, model.safetensors, report.txt, plots/).",
        epilog="config keys (set with --set KEY=VALUE or in the YAML file):\n" + describe_keys(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_config_arguments(train)
    train.add_argument("--out", metavar="DIR", help="run directory to create (must not exist or be empty); "
                       "default: the next free runs/<data>-NNN")
    train.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last "
                       "line of stdout (progress and report go to stderr)")

    resume = commands.add_parser("resume", help="continue a stopped run from its last checkpoint",
                                 description="Continue a run stopped by Ctrl-C, kill -9 or a crash from its "
                                             "checkpoint.safetensors; it ends with the same weights and "
                                             "metrics.csv as the run that was never interrupted.")
    resume.add_argument("run_dir", metavar="RUN_DIR")
    resume.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last "
                        "line of stdout")

    evaluate = commands.add_parser("eval", help="evaluate a saved run again on one split",
                                   description="Reload a run directory and recompute the loss, accuracy, "
                                               "per-class report and confusion matrix of one split.")
    evaluate.add_argument("run_dir", metavar="RUN_DIR")
    evaluate.add_argument("--split", choices=("train", "val", "test"), default="test")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as one JSON object")

    predict = commands.add_parser("predict", help="predict with a saved run on a .npz or .csv file",
                                  description="Predict each row of INPUT (an .npz with array x, or a .csv of the "
                                              "features) and write a csv: the predicted class name and one "
                                              "probability column per class (or the predicted values). A csv "
                                              "has exactly the model's features, or one more column that its "
                                              "header names target (or label, class, y), or, for a model trained "
                                              "on a file, the training file's layout. Every value must be finite.")
    predict.add_argument("run_dir", metavar="RUN_DIR")
    predict.add_argument("input", metavar="INPUT")
    predict.add_argument("--out", metavar="FILE", help="csv file to write (must not exist); default: stdout")

    check = commands.add_parser("check", help="prove the engines agree (engines) or fit notebook 003's line "
                                "every way (linear)", description="engines: train N steps with every engine and "
                                "backend from the same weights and batches, in float64, and print per parameter the "
                                "largest difference from the module engine; exit status 1 past the tolerance. "
                                "linear: fit a linear-regression config with each engine and backend, beside "
                                "scikit-learn's LinearRegression and the closed-form least squares.")
    check.add_argument("what", choices=("engines", "linear"))
    _add_config_arguments(check)
    check.add_argument("--steps", type=int, default=20, help="engines: training steps to compare (default 20)")
    check.add_argument("--tolerance", type=float, default=1e-10, help="engines: largest absolute difference "
                       "allowed (default 1e-10)")
    check.add_argument("--json", action="store_true", help="engines: print the comparison as one JSON object")

    plot = commands.add_parser("plot", help="draw a run's or a sweep's pictures again, or every activation",
                               description="RUN_DIR: draw a run directory's learning curves (train/val loss and "
                                           "accuracy per epoch), confusion matrix, sample grid (images) or data "
                                           "and fitted line (regression on one feature) as PNG files in "
                                           "RUN_DIR/plots. SWEEP_DIR: a sweep's results.csv and plots again. "
                                           "activations: every model.activation and its derivative, in one PNG "
                                           "(--out, default activations.png).")
    plot.add_argument("run_dir", metavar="RUN_DIR|SWEEP_DIR|activations")
    plot.add_argument("--out", metavar="FILE.png", help="activations: the PNG to write (must not exist)")

    graph = commands.add_parser("graph", help="draw the computation graph of a config's loss (.dot, .svg, .png)",
                                description="Build the configured model, compute its loss on a few training "
                                            "samples and draw the graph autograd records (parameters in blue, "
                                            "operations in grey, the loss in green), as torchviz does. .dot is "
                                            "Graphviz text; .svg and .png need Graphviz's dot program.")
    _add_config_arguments(graph)
    graph.add_argument("--out", metavar="FILE", required=True, help="FILE.dot, FILE.svg or FILE.png (must not exist)")

    compare = commands.add_parser("compare", help="runs side by side: config differences and final metrics",
                                  description="A table of runs: the config keys whose values differ, then the "
                                              "final train/val/test metrics, epochs, seconds per epoch, parameters.")
    compare.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    compare.add_argument("--json", action="store_true", help="print the runs' configs and summaries as JSON")

    sweep = commands.add_parser(
        "sweep", help="a grid of runs over config axes and seeds: results table and plots",
        description="Train every point of a sweep file's grid (axes: dotted config key -> values, repeated for "
                    "each of seeds:) as an ordinary run directory inside the sweep directory, then write "
                    "results.csv (one row per run) and plots/ (each metric against each axis with the spread over "
                    "seeds, time against accuracy, loss curves). Run again, it finishes the missing points only.",
        epilog="a sweep file:\n  base: notebook000                # a config preset, a config file (relative to "
               "this file) or a mapping\n  set: {train.epochs: 10}          # dotted keys changed in the base "
               "(optional)\n  axes:\n"
               "    train.batch_size: [2, 8, 32, 128, 512, 1000]\n  seeds: [0, 1, 2]\n\n"
               "presets (notebook 000's experiments): `redes presets`; see docs/experiments.md",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sweep.add_argument("sweep_file", metavar="SWEEP", help="a sweep file, or a sweep preset's name")
    sweep.add_argument("--out", metavar="DIR", help="sweep directory (default: sweeps/<the name of SWEEP>); an "
                       "existing one of the same sweep is completed")
    sweep.add_argument("--workers", type=int, default=1, metavar="N", help="points trained in parallel processes, "
                       "the cores shared between them (default 1; keep 1 when timing matters)")
    sweep.add_argument("--json", action="store_true", help="print the results as one JSON object on the last line")

    search = commands.add_parser(
        "search", help="hyperparameter search on Optuna; the best trial's config written out",
        description="Search a config's hyperparameters with Optuna (TPE by default; random and grid available; "
                    "median pruning on the per-epoch validation metric). Every trial is a run directory under "
                    "DIR/trials; the study is kept in a database, so running again continues it and several "
                    "processes or machines can share one (--storage). Writes DIR/trials.csv and DIR/best.yaml, "
                    "ready for redes train.",
        epilog="a search file:\n  base: digits                     # a config preset, a config file (relative to "
               "this file) or a mapping\n  metric: val_accuracy             # or val_loss\n  sampler: tpe"
               "                     "
               "# tpe | random | grid\n  pruner: median                   # median | none\n  trials: 20\n  "
               "set: {train.epochs: 15}          # dotted keys changed in the base (optional)\n  "
               "params:\n    optimizer.lr: {low: 0.001, high: 0.3, log: true}\n    model.hidden: {choices: "
               "[[64], [128, 64]]}\n\nseveral workers on one study (see docs/experiments.md):\n  redes search "
               "s.yaml --storage postgresql://user@host/db --seed 1   # on each machine, its own seed",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    search.add_argument("search_file", metavar="SEARCH", help="a search file, or a search preset's name")
    search.add_argument("--out", metavar="DIR", help="search directory (default: searches/<the name of SEARCH>)")
    search.add_argument("--storage", metavar="URL", help="Optuna database URL shared by workers, e.g. "
                        "postgresql://user:password@host:5432/db (default: sqlite file DIR/study.db)")
    search.add_argument("--trials", type=int, metavar="N", help="trials this process runs (default: the file's "
                        "trials:)")
    search.add_argument("--seed", type=int, metavar="N", help="the sampler's seed (default: the file's seed:)")
    search.add_argument("--json", action="store_true", help="print the outcome as one JSON object on the last line")

    grad = commands.add_parser(
        "gradcheck", help="check hand-written backward passes (built-in, or your FILE.py:CLASS)",
        description="Check every built-in manual layer, loss and penalty (or your own layer) against "
                    "torch.autograd and float64 finite differences on random inputs, and print a table of "
                    "errors saying which check failed; exit status 1 when any check fails. A layer is a class "
                    "constructible with no arguments, with forward(x) -> y and backward(dy) -> dx on NumPy "
                    "arrays, and params/grads dicts if it has parameters. See docs/gradcheck.md.")
    grad.add_argument("target", metavar="FILE.py:CLASS", nargs="?", help="your layer (default: all built-ins)")
    grad.add_argument("--shape", metavar="B,N", default="4,5", help="input shape, batch and width (default 4,5)")
    grad.add_argument("--json", action="store_true", help="print the results as one JSON object")

    explain = commands.add_parser("explain", help="the forward and backward equations of a config's model",
                                  description="For the configured model, each layer's forward and backward "
                                              "equations with the real tensor shapes, as a student would write "
                                              "them on paper, then the update rule and the parameter counts.")
    _add_config_arguments(explain)

    bench = commands.add_parser("bench", help="how fast redes is here: ratios against baselines, in one process",
                                description="Time redes on this machine against the notebooks' loops and a bare "
                                            "PyTorch loop (see docs/benchmarks.md); prints ratios and peak memory.")
    bench.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: seconds, not figures")
    bench.add_argument("--json", action="store_true", help="print one JSON object (seconds and ratios)")

    commands.add_parser("presets", help="list the configs, sweeps and searches that come with redes",
                        description="List the presets inside the package, by kind, with what each is; a command "
                                    "takes a preset's name where it takes a file.")

    commands.add_parser("datasets", help="list the data sources and where downloaded ones are looked for",
                        description="List every data.name, and where CIFAR-10, CIFAR-100, MNIST and Fashion-MNIST "
                                    "are looked for and downloaded to.")

    export = commands.add_parser(
        "export", help="write a run's model as ONNX, a torch.export program (.pt2) or TorchScript",
        description="Write the trained model of RUN_DIR as a file other tools load. The graph takes raw inputs, "
                    "as redes predict does (the run's input scaling is part of it), any number of rows, and "
                    "returns class probabilities (classifiers) or values (regression). ONNX needs the export "
                    "extra: pip install 'redes[export]'.",
        epilog="load it elsewhere:\n  onnxruntime.InferenceSession('model.onnx').run(None, {'x': x})[0]\n"
               "  torch.export.load('model.pt2').module()(x)\n  torch.jit.load('model.torchscript.pt')(x)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--format", choices=["onnx", "pt2", "torchscript"], default="onnx",
                        help="onnx (opset 18; the default), pt2 (torch.export) or torchscript")
    export.add_argument("--out", metavar="FILE", help="the file to write, which must not exist (default: "
                        "RUN_DIR/model.onnx, model.pt2 or model.torchscript.pt)")

    completion = commands.add_parser(
        "completion", help="print a shell's tab-completion script for redes",
        description="Print the script that completes redes' commands and options in SHELL, generated from "
                    "this parser.",
        epilog="install it:\n  bash: redes completion bash > ~/.local/share/bash-completion/completions/redes\n"
               "  zsh:  redes completion zsh > ~/.zfunc/_redes   (with fpath+=(~/.zfunc) before compinit in "
               "~/.zshrc)\n  tcsh: redes completion tcsh > ~/.redes.tcsh && echo 'source ~/.redes.tcsh' >> ~/.tcshrc",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    completion.add_argument("shell", choices=["bash", "zsh", "tcsh"], metavar="SHELL", help="bash, zsh or tcsh")

    config = commands.add_parser("config", help="show the config keys, or a resolved config as YAML",
                                 description="With --show (or nothing), list every config key with its type, "
                                             "default and meaning; with a CONFIG and/or --set, print the fully "
                                             "resolved config as YAML.")
    _add_config_arguments(config)
    config.add_argument("--show", action="store_true", help="list every key with its default and meaning")
    return parser


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", nargs="?", help="a YAML config file, or a config preset's name "
                        "(`redes presets`; default: the built-in defaults)")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                        help="override one config key, value parsed as YAML (repeatable), "
                             "e.g. --set train.epochs=10 --set model.hidden=[64,32]")
