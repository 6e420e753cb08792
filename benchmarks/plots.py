"""PNG plots of a results dictionary (matplotlib, Agg backend, small files).

* ``throughput.png``: capture throughput per codec, wimcore vs wimlib-imagex, and the
  raw compressor API per codec and block size, wimcore vs C;
* threads and size plots also draw wimcore's rate for the API call alone (dotted),
  which leaves out Python's start-up;
* ``threads.png``: capture throughput against thread count for LZX and LZMS;
* ``size.png``: capture throughput (XPRESS) against corpus size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {"imagex": "#4c72b0", "wimcore": "#dd8452"}
LABELS = {"imagex": "wimlib-imagex", "wimcore": "wimcore (Python)"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain_log_axis(ax: Any) -> None:
    """Log scale with plain numbers (10, 20, 50) instead of 2×10^1 style labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _op_rate(case: dict[str, Any]) -> float:
    """wimcore's MB/s counting the API call alone (timed inside the child)."""
    op = case["sides"]["wimcore"].get("op_wall_median_s") or case["sides"]["wimcore"][
        "wall_median_s"]
    return float(case["input_bytes"] / op / 1e6)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)
    return path


def throughput(results: dict[str, Any], path: Path) -> Path:
    """Capture MB/s per codec (left) and raw compressor MB/s per codec and block (right)."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    cases = [c for c in results["cases"] if c["group"] == "capture"]
    names = [c["title"].replace("capture ", "") for c in cases]
    width = 0.38
    for k, side in enumerate(("imagex", "wimcore")):
        xs = [i + (k - 0.5) * width for i in range(len(cases))]
        left.bar(xs, [c["mb_per_s"][side] for c in cases], width, color=COLORS[side],
                 label=LABELS[side])
    left.set_xticks(range(len(cases)), names)
    _plain_log_axis(left)
    left.set_ylabel("corpus MB per second (wall, log scale)")
    left.set_title(f"Capture throughput ({results['corpus']['total_bytes'] / 2**20:.0f} MiB "
                   f"corpus, {results['machine']['cores']} threads)")
    left.legend()
    rows = results["compressor"]
    labels = [f"{r['codec'].upper()}\n{_block(r['block'])}" for r in rows]
    for k, (key, side, label) in enumerate((("c_median_mb_s", "imagex", "libwimlib from C"),
                                             ("py_median_mb_s", "wimcore", "wimcore.Compressor"))):
        xs = [i + (k - 0.5) * width for i in range(len(rows))]
        right.bar(xs, [r[key] for r in rows], width, color=COLORS[side], label=label)
    for i, r in enumerate(rows):
        if r.get("py_percent_of_c"):
            right.annotate(f"{r['py_percent_of_c']:.0f}%", (i, max(r["c_median_mb_s"],
                                                                   r["py_median_mb_s"])),
                           xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7)
    right.set_xticks(range(len(rows)), labels, fontsize=7)
    _plain_log_axis(right)
    right.set_ylabel("uncompressed MB per second (log scale)")
    right.set_title("Raw compressor API, one thread (label: wimcore % of C)")
    right.legend()
    return _save(fig, path)


def threads(results: dict[str, Any], path: Path) -> Path:
    """Capture MB/s against threads, LZX and LZMS, both sides."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for codec, style in (("lzx", "-o"), ("lzms", "--s")):
        cases = sorted((c for c in results["cases"]
                        if c["group"] in ("capture", "threads")
                        and c["params"].get("codec") == codec and not c["params"].get("solid")),
                       key=lambda c: c["params"]["threads"])
        xs = [c["params"]["threads"] for c in cases]
        for side in ("imagex", "wimcore"):
            ax.plot(xs, [c["mb_per_s"][side] for c in cases], style, color=COLORS[side],
                    label=f"{codec.upper()} {LABELS[side]}")
        ax.plot(xs, [_op_rate(c) for c in cases], style[-1] + ":", color=COLORS["wimcore"],
                alpha=0.6, label=f"{codec.upper()} wimcore, API call only")
    counts = sorted({c["params"]["threads"] for c in results["cases"]
                     if c["group"] in ("capture", "threads")})
    ax.set_xticks(counts)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("compression threads")
    ax.set_ylabel("corpus MB per second (wall)")
    ax.set_title("Capture thread scaling")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def size(results: dict[str, Any], path: Path) -> Path:
    """Capture (XPRESS) MB/s against corpus size, both sides."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    cases = sorted((c for c in results["cases"]
                    if c["group"] in ("capture", "size") and c["params"].get("codec") == "xpress"),
                   key=lambda c: c["input_bytes"])
    sizes = [c["input_bytes"] / 2**20 for c in cases]
    for side in ("imagex", "wimcore"):
        ax.plot(sizes, [c["mb_per_s"][side] for c in cases], "-o", color=COLORS[side],
                label=LABELS[side] + " (whole process)")
    ax.plot(sizes, [_op_rate(c) for c in cases], ":o", color=COLORS["wimcore"], alpha=0.6,
            label="wimcore, API call only (no start-up)")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(bottom=0)
    ax.set_xlabel("corpus size (MiB, log scale)")
    ax.set_ylabel("corpus MB per second (wall)")
    ax.set_title("Capture XPRESS: size scaling")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def all_plots(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write every plot into ``out_dir``; return their paths."""
    return [throughput(results, out_dir / "throughput.png"),
            threads(results, out_dir / "threads.png"),
            size(results, out_dir / "size.png")]


def _block(block: int) -> str:
    return f"{block >> 20} MiB" if block >= 1 << 20 else f"{block >> 10} KiB"
