"""What the scripts in benchmarks/ share: their command-line options and their verdict line.

A script in benchmarks/ imports it as a sibling (`python benchmarks/x.py` puts benchmarks/ on sys.path); one in
benchmarks/investigations/ puts benchmarks/ on sys.path first.
"""

from __future__ import annotations

import argparse

import torch


def script_arguments(doc: str, argv, device: bool = False, **sizes: int) -> argparse.Namespace:
    """The options of a script in benchmarks/: its sizes (`--name N`, defaults given), --json, --device
    where the script takes one, and --threads N, which sets torch's intra-op threads for the whole
    process (on a loaded machine fewer threads than cores can be faster: torch's threads wait for
    each other at every operator's end; docs/benchmarks.md, section 3)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    for name, default in sizes.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    if device:
        parser.add_argument("--device", default="cpu", help="where the model and redes' data live: cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch's intra-op threads (0: its default)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def verdict(name: str, ratio: float, target: float, at_least: bool) -> str:
    """One benchmark line: the ratio, its target and whether it is met."""
    met = ratio >= target if at_least else ratio <= target
    return f"{name:<34} {ratio:6.2f}x   target {'>=' if at_least else '<='} {target}x   {'met' if met else 'MISSED'}"
