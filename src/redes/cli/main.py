"""The `redes` command: parse the arguments (parser.py), make one library call per subcommand."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Optional, Sequence

from redes.cli.parser import build_parser
from redes.errors import RedesError, RedesWarning, TrainingInterrupted


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        return {"train": _train, "resume": _resume, "eval": _eval, "predict": _predict, "check": _check,
                "plot": _plot, "graph": _graph, "compare": _compare, "sweep": _sweep, "search": _search,
                "gradcheck": _gradcheck, "explain": _explain, "bench": _bench, "presets": _presets,
                "export": _export, "completion": _completion, "datasets": _datasets,
                "config": _config}[args.command](args)
    except RedesError as exc:
        print(f"redes: error: {'; '.join(str(exc).split(chr(10)))}", file=sys.stderr)  # always one line
        return 2
    except TrainingInterrupted as stop:
        hint = (f"checkpoint written; continue with: redes resume {stop.run_dir}" if stop.checkpointed
                else "no checkpoint (train.checkpoint_every=0)")
        print(f"redes: interrupted at epoch {stop.epoch}, step {stop.step}; {hint}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("redes: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `redes ... | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as exc:  # a file the command writes or reads: full disk, read-only, permissions
        print(f"redes: error: {exc.filename or 'a file'}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _show_warning(message, category, filename, lineno, file=None, line=None, shown=warnings.showwarning) -> None:
    """redes' own warnings as one `redes: warning: ...` line; any other as Python shows it."""
    if issubclass(category, RedesWarning):
        print(f"redes: warning: {message}", file=sys.stderr)
    else:
        shown(message, category, filename, lineno, file, line)


def _train(args) -> int:
    from redes.config import load_config

    cfg = load_config(args.config, args.overrides)  # checked before torch is imported: a mistake answers at once
    from redes.runs.train import train

    stream = sys.stderr if args.json else sys.stdout
    # At a terminal the user has the results as soon as they are printed, and the pictures follow; a script,
    # a pipe or a notebook finds the whole run directory written when the command ends.
    run = train(cfg, out=args.out, stream=stream, pictures_later=stream.isatty())
    if args.json:
        print(json.dumps(run.summary))
    return 0


def _resume(args) -> int:
    from redes.runs.train import resume

    stream = sys.stderr if args.json else sys.stdout
    run = resume(args.run_dir, stream=stream, pictures_later=stream.isatty())  # as _train
    if args.json:
        print(json.dumps(run.summary))
    return 0


def _eval(args) -> int:
    from redes.runs.run import load_run

    run = load_run(args.run_dir)
    evaluation = run.evaluate(args.split)
    if args.json:
        print(json.dumps({"run_dir": str(run.path), "split": args.split, **evaluation.metrics()}))
    else:
        from redes.runs.reports import evaluation_report

        print(evaluation_report(args.split, evaluation, run.classes))
    return 0


def _predict(args) -> int:
    from redes.data.files import read_features
    from redes.runs.run import load_run

    run = load_run(args.run_dir)
    data = run.config.data
    x = read_features(args.input, run.model[0].in_features, data.target, target_by_position=data.name == "file")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    if run.classes:
        names = run.classes
        writer.writerow(["prediction"] + [f"p_{name}" for name in names])
        for label, row in zip(run.predict(x), run.predict_proba(x)):
            writer.writerow([names[label]] + [f"{p:.6g}" for p in row])
    else:
        values = run.predict(x)
        writer.writerow(["prediction"] if values.shape[1] == 1 else [f"prediction_{i}" for i in range(values.shape[1])])
        writer.writerows([[f"{v:.6g}" for v in row] for row in values])
    if args.out is None:
        sys.stdout.write(text.getvalue())
        return 0
    out = Path(args.out)
    _check_new_output(out)
    out.write_text(text.getvalue())
    print(f"wrote {len(x)} predictions to {out}", file=sys.stderr)
    return 0


def _check(args) -> int:
    from redes.config import load_config

    cfg = load_config(args.config, args.overrides)
    from redes.study.compare import LINEAR_HEADER, check_engines, fit_linear_every_way, format_linear

    if args.what == "linear":
        rows = fit_linear_every_way(cfg)
        first = next(rows)  # a config that cannot be fitted is refused before anything is printed
        print(LINEAR_HEADER)
        for row in itertools.chain([first], rows):  # a line as each fit is done
            print(format_linear(row), flush=True)
        return 0
    comparison = check_engines(cfg, steps=args.steps, tolerance=args.tolerance)
    print(json.dumps(comparison.to_dict()) if args.json else comparison.table())
    return 0 if comparison.passed else 1


def _plot(args) -> int:
    from redes.runs.run import load_run, write_plots
    from redes.runs.writer import writing
    from redes.study.sweeps import SWEEP_FILE, redraw

    if args.run_dir == "activations" and not Path(args.run_dir).is_dir():
        return _plot_activations(Path(args.out or "activations.png"))
    if args.out is not None:
        raise RedesError("--out is for 'redes plot activations'; a run's pictures go to RUN_DIR/plots")
    if (Path(args.run_dir) / SWEEP_FILE).is_file():
        written = redraw(args.run_dir)
    else:
        with writing(Path(args.run_dir)):  # after the pictures `redes train` left to another process
            written = write_plots(load_run(args.run_dir))
    for path in written:
        print(path)
    return 0


def _graph(args) -> int:
    from redes.config import load_config

    out = Path(args.out)
    _check_new_output(out)
    cfg = load_config(args.config, args.overrides)
    from redes.study.graph import loss_graph, render

    out.write_bytes(render(loss_graph(cfg), out.suffix.lstrip(".").lower()))
    print(out)
    return 0


def _check_new_output(out: Path) -> None:
    """Before any work: --out must be a new file in a folder that exists."""
    if out.exists():
        raise RedesError(f"{out} already exists; redes never overwrites a file, choose another --out")
    if not out.parent.is_dir():
        raise RedesError(f"--out {out}: the folder {out.parent} does not exist; create it or choose another --out")


def _plot_activations(out: Path) -> int:
    from redes.nn.models import activation_curves
    from redes.runs.plots import activations, picture_formats

    _check_new_output(out)
    if out.suffix.lstrip(".").lower() not in picture_formats():
        raise RedesError(f"--out {out}: matplotlib cannot draw .{out.suffix.lstrip('.')} pictures; use one of "
                         f"{', '.join('.' + f for f in picture_formats())}")
    print(activations(activation_curves(), out))
    return 0


def _compare(args) -> int:
    from redes.runs.reports import compare_runs
    from redes.runs.run import load_run

    runs = [load_run(path) for path in args.run_dirs]
    if args.json:
        print(json.dumps([{"run_dir": str(r.path), "config": r.config.to_dict(), "summary": r.summary} for r in runs]))
    else:
        print(compare_runs(runs))
    return 0


def _sweep(args) -> int:
    from redes.study.sweeps import load_sweep, run_sweep, summarize

    if args.workers < 1:
        raise RedesError(f"--workers must be at least 1, got {args.workers}")
    axes = list(load_sweep(args.sweep_file).axes)  # every point's config checked before torch is imported
    from redes.runs.reports import sweep_table

    try:
        sweep_dir, rows = run_sweep(args.sweep_file, args.out, args.workers, stream=sys.stderr,
                                    pictures_later=sys.stdout.isatty())  # as _train
    except TrainingInterrupted:
        print("redes: sweep interrupted; run the same command again to finish the missing points", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps({"sweep_dir": str(sweep_dir), "results": rows}))
        return 0
    done = [row for row in rows if row["status"] == "done"]
    print(f"sweep {sweep_dir}: {len(done)} of {len(rows)} runs done\n")
    print(sweep_table(summarize(done, axes), axes) if done else "(no finished runs)")
    for row in rows:
        if row["status"] == "failed":
            print(f"failed: {row['point']}: {(sweep_dir / row['point'] / 'failed.txt').read_text().strip()}")
    print(f"\nresults: {sweep_dir / 'results.csv'}; plots: {sweep_dir / 'plots'}")
    return 0


def _search(args) -> int:
    from redes.study.search import describe_outcome, format_outcome, run_search

    if args.trials is not None and args.trials < 1:
        raise RedesError(f"--trials must be at least 1, got {args.trials}")
    search_dir, study = run_search(args.search_file, args.out, args.storage, args.trials, args.seed,
                                   stream=sys.stderr)
    outcome = describe_outcome(study, search_dir)
    print(json.dumps(outcome) if args.json else format_outcome(outcome))
    return 0


def _gradcheck(args) -> int:
    from redes.study.gradcheck import format_table, gradcheck, parse_shape, report_dict

    results = gradcheck(args.target, parse_shape(args.shape))
    print(json.dumps(report_dict(results)) if args.json else format_table(results))
    return 0 if all(r.passed for r in results) else 1


def _explain(args) -> int:
    from redes.config import load_config

    cfg = load_config(args.config, args.overrides)
    from redes.study.explain import explain_config

    print(explain_config(cfg))
    return 0


def _bench(args) -> int:
    from redes.bench.suite import Sizes, format_table, ratio_rows, run_bench

    result = run_bench(Sizes.quick() if args.quick else Sizes(), stream=sys.stderr)
    ratios = {name: ratio for name, ratio, _ in ratio_rows(result)}
    print(json.dumps(result | {"ratios": ratios}) if args.json else format_table(result))
    return 0


def _export(args) -> int:
    from redes.runs.export import FORMATS, export
    from redes.runs.run import load_run

    out = Path(args.out) if args.out else Path(args.run_dir) / f"model{FORMATS[args.format][0]}"
    _check_new_output(out)
    run = load_run(args.run_dir)
    print(f"exporting {args.run_dir} as {args.format} ...", file=sys.stderr, flush=True)
    print(export(run, args.format, out))
    return 0


def _completion(args) -> int:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell), end="")
    return 0


def _presets(args) -> int:
    from redes.config import presets

    for kind, commands in presets.KINDS.items():
        print(f"{kind} presets ({commands}):")
        width = max(map(len, presets.names(kind)))
        for name in presets.names(kind):
            print(f"  {name:<{width}}  {presets.summary(kind, name)}")
    return 0


def _datasets(args) -> int:
    from redes.config import DataConfig
    from redes.data.sources import SOURCES

    width = max(map(len, SOURCES))
    for name, source in SOURCES.items():
        print(f"{name:<{width}}  {source.help}")
    for name, source in SOURCES.items():
        if source.locations:
            print(f"\n{name} is looked for in ({source.locations_note}):")
            for path in source.where(DataConfig(name=name)):
                print(f"  {'found  ' if path.exists() else 'missing'}  {path}")
    return 0


def _config(args) -> int:
    from redes.config import describe_keys, load_config

    if args.show or (args.config is None and not args.overrides):
        print(describe_keys())
    else:
        print(load_config(args.config, args.overrides).to_yaml(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
