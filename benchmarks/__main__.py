"""Command line of the benchmark suite: ``python -m benchmarks run [options]``.

Other suites in this package that expose ``main(argv)`` are reachable as further
sub-commands (``cab`` for cab_expand, ``inventory`` for inventory_bench) and are
simply handed the rest of the command line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

EXTRA_SUITES = {"cab": "benchmarks.cab_expand", "inventory": "benchmarks.inventory_bench",
                "startup": "benchmarks.startup"}


def _parser() -> argparse.ArgumentParser:
    from benchmarks.suite import DEFAULT_OUT, DEFAULT_SIZE_MB, QUICK_SIZE_MB

    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="wimcore vs wimlib-imagex benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the compression/export hot-path suite")
    run.add_argument("--quick", action="store_true",
                     help=f"tiny corpus ({QUICK_SIZE_MB:g} MiB), one run, no warm-up: "
                          "keeps the code working, the figures mean little")
    run.add_argument("--out", type=Path, default=DEFAULT_OUT,
                     help="output directory: corpus cache, work files, results (default: "
                          "benchmarks/out)")
    run.add_argument("--size-mb", type=float, default=None,
                     help=f"corpus size in MiB (default {DEFAULT_SIZE_MB:g}; several GB work)")
    run.add_argument("--runs", type=int, default=None, help="measured runs per side (default 3)")
    run.add_argument("--warmup", type=int, default=None, help="warm-up runs per side (default 1)")
    run.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    run.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                     help="compression threads for both sides (default: all cores)")
    run.add_argument("--only", action="append", default=None, metavar="NAME",
                     help="only these cases or groups (capture, export, apply, append, "
                          "progress, threads, size, diagnostic, compressor); repeatable")
    run.add_argument("--publish", action="store_true",
                     help="also refresh benchmarks/RESULTS.md and benchmarks/results/*.png")
    rep = sub.add_parser("report", help="rewrite results.md and the plots from results.json")
    rep.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the run's output directory")
    rep.add_argument("--publish", action="store_true",
                     help="also refresh benchmarks/RESULTS.md and benchmarks/results/*.png")
    for name, module in EXTRA_SUITES.items():
        sub.add_parser(name, help=f"run {module} (arguments are passed on)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen suite; return the exit status."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in and args_in[0] in EXTRA_SUITES:
        try:
            module = importlib.import_module(EXTRA_SUITES[args_in[0]])
        except ModuleNotFoundError as exc:
            print(f"{EXTRA_SUITES[args_in[0]]} is not available: {exc}", file=sys.stderr)
            return 2
        entry = getattr(module, "main", None)
        if entry is None:
            print(f"{EXTRA_SUITES[args_in[0]]} has no main(argv)", file=sys.stderr)
            return 2
        return int(entry(args_in[1:]) or 0)
    args = _parser().parse_args(args_in)
    if args.command == "report":
        from benchmarks.suite import rewrite_report

        rewrite_report(args.out, publish=args.publish)
        return 0
    from benchmarks.suite import DEFAULT_SIZE_MB, QUICK_SIZE_MB, Options, command_line, run_suite

    opts = Options(
        out=args.out,
        size_mb=args.size_mb or (QUICK_SIZE_MB if args.quick else DEFAULT_SIZE_MB),
        runs=args.runs if args.runs is not None else (1 if args.quick else 3),
        warmup=args.warmup if args.warmup is not None else (0 if args.quick else 1),
        quick=args.quick, seed=args.seed, threads=args.threads,
        only=set(args.only) if args.only else None, publish=args.publish,
        command=command_line(args_in))
    run_suite(opts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
