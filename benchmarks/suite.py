"""The ``run`` command: build the corpus, measure every case and write the report.

Order of work: corpora (cached), the C helpers (compiled), input WIMs (made once
by wimlib-imagex), then each case with warm-up and measured runs alternating
wimcore / wimlib-imagex, then the raw compressor comparison, then results.json,
results.md and the plots in the output directory. ``--publish`` also refreshes
``benchmarks/RESULTS.md`` and its PNGs (the committed copy of a full run).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import compressor, corpus, harness, report
from benchmarks.cases import SIDES, Case, Context, build_cases
from benchmarks.runner import Sample, child_env, run

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = PACKAGE_DIR / "out"
DEFAULT_SIZE_MB = 48.0
QUICK_SIZE_MB = 2.0


@dataclass
class Options:
    """What ``python -m benchmarks run`` was asked to do."""

    out: Path
    size_mb: float
    runs: int
    warmup: int
    quick: bool
    seed: int
    threads: int
    only: set[str] | None
    publish: bool
    command: str


def log(message: str) -> None:
    """Progress lines on stderr (stdout stays free for a caller)."""
    print(message, file=sys.stderr, flush=True)


def _output_bytes(path: Path) -> int | None:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return None


def measure_case(case: Case, *, runs: int, warmup: int, env: dict[str, str],
                 launcher: Path | None, scratch: Path) -> dict[str, list[Sample]]:
    """Warm up, then run wimcore and wimlib-imagex alternately (A B A B ...)."""
    samples: dict[str, list[Sample]] = {side: [] for side in SIDES}
    for round_no in range(warmup + runs):
        for side_name in SIDES:
            side = case.sides[side_name]
            side.reset()
            os.sync()  # start each run with no dirty pages left by the previous one
            out = scratch / f"{side_name}.stdout"
            sample = run(side.argv, stdout_path=out, env=env, launcher=launcher)
            sample.output_bytes = _output_bytes(side.output)
            if round_no >= warmup:
                samples[side_name].append(sample)
    for side in case.sides.values():
        side.reset()
    return samples


def measure_startup(python: str, *, runs: int, env: dict[str, str], launcher: Path | None,
                    scratch: Path) -> dict[str, Any]:
    """The wimcore child doing nothing: what start-up alone costs (wall, CPU, RSS, instructions)."""
    scratch.mkdir(parents=True, exist_ok=True)
    cmd = [python, "-m", "benchmarks.child", json.dumps({"op": "noop", "progress": False})]
    samples = [run(cmd, stdout_path=scratch / "startup.stdout", env=env, launcher=launcher)
               for _ in range(runs + 1)][1:]
    stats = report.side_stats(samples)
    stats.pop("samples", None)
    return stats


def machine(python: str, imagex: str, out_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """The facts RESULTS.md states: cores, memory, CPU, kernel, versions, filesystem."""
    probe = ("import json, sys, cffi, platform, wimcore; print(json.dumps({"
             "'libwimlib': wimcore.libwimlib_version(), 'cffi': cffi.__version__, "
             "'python': platform.python_version()}))")
    facts = json.loads(subprocess.run([python, "-c", probe], env=env, check=True,
                                      capture_output=True, text=True).stdout)
    cpu = "unknown CPU"
    mem_kib = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    fs = subprocess.run(["df", "-T", str(out_dir)], capture_output=True, text=True).stdout
    fs_type = fs.splitlines()[-1].split()[1] if fs.strip() else "unknown"
    version = subprocess.run([imagex, "--version"], capture_output=True, text=True).stdout
    return {"cores": os.cpu_count() or 1, "memory_gib": mem_kib / 2**20, "cpu_model": cpu,
            "kernel": platform.release(), "filesystem": fs_type,
            "imagex_version": version.splitlines()[0] if version else "unknown", **facts}


def run_suite(opts: Options) -> dict[str, Any]:
    """Measure everything and write results.json, results.md and the PNGs into opts.out."""
    started = time.perf_counter()
    out = opts.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    imagex = shutil.which("wimlib-imagex")
    if imagex is None:
        raise SystemExit("wimlib-imagex not found (Debian/Ubuntu: apt install wimtools)")
    python = sys.executable
    env = child_env(out / "pycache")
    log(f"corpus {opts.size_mb:g} MiB (seed {opts.seed}) in {out}")
    main_corpus = corpus.build(out, opts.size_mb, opts.seed)
    factor = 2.0 if opts.quick else 4.0
    sizes = [opts.size_mb / factor, opts.size_mb, opts.size_mb * factor]
    if not _wants_size_group(opts.only):
        sizes = [opts.size_mb]  # the other corpora serve the size group alone
    size_corpora = {s: (main_corpus if s == opts.size_mb else corpus.build(out, s, opts.seed))
                    for s in sizes}
    launcher: Path | None
    try:
        launcher = harness.build("spawn_rusage", out)
    except harness.HarnessError as exc:
        log(f"warning: {exc}; measuring with os.wait4 from this process instead")
        launcher = None
    work = out / "work"
    ctx = Context(python=python, imagex=imagex, work=work, corpus=main_corpus,
                  threads=opts.threads, size_corpora=size_corpora)
    cases = build_cases(ctx, opts.only)
    startup = measure_startup(python, runs=max(3, opts.runs), env=env, launcher=launcher,
                              scratch=work)
    log(f"wimcore start-up baseline: {startup['wall_median_s'] * 1000:.0f} ms wall, "
        f"{startup['peak_rss_median_mib']:.1f} MiB peak")
    summaries: list[dict[str, Any]] = []
    for number, case in enumerate(cases, 1):
        t0 = time.perf_counter()
        samples = measure_case(case, runs=opts.runs, warmup=opts.warmup, env=env,
                               launcher=launcher, scratch=work)
        summary = report.summarize(case, samples, startup)
        summaries.append(summary)
        log(f"[{number}/{len(cases)}] {case.title}: imagex "
            f"{summary['sides']['imagex']['wall_median_s']:.2f} s, wimcore "
            f"{summary['sides']['wimcore']['wall_median_s']:.2f} s, ratio "
            f"{summary['wall_ratio']:.3f}, op ratio {summary['op_ratio'] or 0:.3f}, "
            f"peak {summary['sides']['imagex']['peak_rss_median_mib']:.0f}/"
            f"{summary['sides']['wimcore']['peak_rss_median_mib']:.0f} MiB "
            f"({time.perf_counter() - t0:.0f} s)")
    comp_rows: list[dict[str, Any]] = []
    if opts.only is None or "compressor" in opts.only:
        try:
            c_binary = harness.build("compress_bench", out)
        except harness.HarnessError as exc:
            log(f"warning: compressor comparison skipped: {exc}")
        else:
            sample = compressor.make_sample(main_corpus, out / "compress-sample.bin",
                                            (1 if opts.quick else 4) * corpus.MiB)
            results = compressor.bench(python=python, c_binary=c_binary, sample=sample,
                                       work=work, env=env, launcher=launcher,
                                       runs=1 if opts.quick else max(5, opts.runs), log=log,
                                       min_seconds=0.02 if opts.quick else 0.5)
            comp_rows = [r.to_dict() for r in results]
            report.compressor_verdicts(comp_rows)
    results = {
        "command": opts.command,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(python, imagex, out, env),
        "corpus": {"total_bytes": main_corpus.total_bytes, "file_count": main_corpus.file_count,
                   "bytes_by_kind": main_corpus.bytes_by_kind, "seed": opts.seed,
                   "unique_bytes": main_corpus.unique_bytes},
        "runs": opts.runs, "warmup": opts.warmup, "threads": opts.threads,
        "quick": opts.quick,
        "startup": startup, "cases": summaries, "compressor": comp_rows,
        "elapsed_s": 0.0,
    }
    results["elapsed_s"] = time.perf_counter() - started
    report.write_json(out / "results.json", results)
    plot_names = _plots(results, out)
    (out / "results.md").write_text(report.markdown(results, plots=plot_names))
    if opts.publish:
        publish_results(results, out, plot_names)
    log(f"done in {results['elapsed_s']:.0f} s: {out / 'results.md'}")
    return results


def _wants_size_group(only: set[str] | None) -> bool:
    """Whether ``--only`` keeps any case of the size group (capture_xpress_<N>mb)."""
    return only is None or "size" in only or any(
        name.startswith("capture_xpress_") and name.endswith("mb") for name in only)


def _plots(results: dict[str, Any], out: Path) -> list[str]:
    try:
        from benchmarks import plots
    except ImportError:  # pragma: no cover - plots module itself has no hard imports
        return []
    try:
        return [p.name for p in plots.all_plots(results, out)]
    except ImportError as exc:
        log(f"warning: no plots ({exc}); install the 'bench' extra (matplotlib)")
        return []


def rewrite_report(out: Path, *, publish: bool = False) -> None:
    """Rewrite results.md and the plots of an earlier run from its results.json."""
    results = json.loads((out / "results.json").read_text())
    plot_names = _plots(results, out)
    (out / "results.md").write_text(report.markdown(results, plots=plot_names))
    if publish:
        publish_results(results, out, plot_names)


def publish_results(results: dict[str, Any], out: Path, plot_names: list[str]) -> None:
    """Refresh benchmarks/RESULTS.md and benchmarks/results/*.png from this run."""
    dest = PACKAGE_DIR / "results"
    dest.mkdir(exist_ok=True)
    for name in plot_names:
        shutil.copyfile(out / name, dest / name)
    text = report.markdown(results, plots=[f"results/{name}" for name in plot_names])
    (PACKAGE_DIR / "RESULTS.md").write_text(text)


def command_line(argv: list[str]) -> str:
    """The command as a user would type it (for the report)."""
    return "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv)
