"""Start-up of the ``wimcore`` command: ``--version`` and ``info`` of a small WIM, whole processes.

``python -m benchmarks startup [--runs 20] [--publish]`` installs the built wheel into a
fresh venv under ``benchmarks/out/startup`` (as users install it: no editable-install
finder on the path; dependencies come from this environment's site-packages), makes a
one-file WIM, and times each command as a child process, alternating with
``wimlib-imagex info`` and a bare interpreter. Medians of wall time are reported;
``--publish`` writes them into the "Start-up" section of ``benchmarks/RESULTS.md``.
Goals: ``--version`` <= 50 ms, ``info`` <= 80 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO = PACKAGE_DIR.parent
MARK = "## Start-up"


def install(out: Path) -> Path:
    """Build the wheel and install it into a fresh venv; return the venv's ``bin``."""
    out.mkdir(parents=True, exist_ok=True)
    wheels = out / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(REPO)], check=True)
    venv = out / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(next(wheels.glob("*.whl")))], check=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True,
                          text=True).stdout.strip()
    (Path(site) / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Byte-compile once, as pip does for a normal install.
    subprocess.run([str(python), "-m", "compileall", "-q", site], check=False)
    return venv / "bin"


def small_wim(out: Path, wimcore_exe: Path) -> Path:
    """A one-image WIM of a single small file."""
    src = out / "src"
    src.mkdir(exist_ok=True)
    (src / "hello.txt").write_text("hello\n")
    wim = out / "small.wim"
    subprocess.run([str(wimcore_exe), "capture", str(src), str(wim), "-q"], check=True)
    return wim


def time_runs(cmds: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    """Wall times of each command, alternating, after one warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for round_no in range(runs + 1):
        for name, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            if round_no:
                times[name].append(time.perf_counter() - start)
    return times


def table(times: dict[str, list[float]], goals: dict[str, float]) -> list[str]:
    """Markdown rows: command, median, min, max, goal."""
    lines = ["| command | median ms | min ms | max ms | goal |", "|---|---|---|---|---|"]
    for name, values in times.items():
        med = statistics.median(values) * 1000
        goal = goals.get(name)
        verdict = "–" if goal is None else (f"<= {goal:.0f} ms: " +
                                            ("ok" if med <= goal else "**miss**"))
        lines.append(f"| `{name}` | {med:.1f} | {min(values) * 1000:.1f} | "
                     f"{max(values) * 1000:.1f} | {verdict} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the start-up benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks startup")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=PACKAGE_DIR / "out" / "startup")
    parser.add_argument("--publish", action="store_true")
    args = parser.parse_args(argv)
    imagex = shutil.which("wimlib-imagex")
    if imagex is None:
        print("wimlib-imagex not found (apt install wimtools)", file=sys.stderr)
        return 2
    bin_dir = install(args.out)
    exe = bin_dir / "wimcore"
    wim = small_wim(args.out, exe)
    cmds = {"python -c pass": [str(bin_dir / "python"), "-c", "pass"],
            "wimcore --version": [str(exe), "--version"],
            "wimcore info small.wim": [str(exe), "info", str(wim)],
            "wimlib-imagex info small.wim": [imagex, "info", str(wim)]}
    times = time_runs(cmds, args.runs)
    lines = table(times, {"wimcore --version": 50.0, "wimcore info small.wim": 80.0})
    print("\n".join(lines))
    if args.publish:
        section = [MARK, "",
                   f"`python -m benchmarks startup --runs {args.runs}`: medians of {args.runs} "
                   "whole-process wall times, alternating, after one warm-up round; wimcore "
                   "installed from its wheel into a fresh venv (no editable-install finder).",
                   "", *lines, ""]
        results = PACKAGE_DIR / "RESULTS.md"
        text = results.read_text()
        if MARK in text:
            head, _, tail = text.partition(MARK)
            rest = tail.split("\n## ", 1)
            text = head + "\n".join(section) + ("\n## " + rest[1] if len(rest) > 1 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + "\n".join(section)
        results.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
