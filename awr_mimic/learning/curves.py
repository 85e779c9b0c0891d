"""Learning curves from `progress.csv` as a standalone SVG (no plotting library, works headless).

`awr-mimic plot RUN [RUN ...] --out curve.svg` draws one line per run and column, e.g. the
deterministic-evaluation normalised return against samples. `points_table` compares runs at fixed
training times and sample counts as a markdown table (`awr-mimic plot RUN ... --table`,
`awr-mimic bench arms`).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from xml.sax.saxutils import escape

from awr_mimic.errors import AwrMimicError, unknown_name

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
DASHES = ("", "6,4", "2,3")  # one dash style per column


def read_progress(path: str | Path) -> dict[str, list[float]]:
    """Columns of a run's progress.csv (a run directory or the file); empty cells become NaN."""
    path = Path(path)
    if path.is_dir():
        path = path / "progress.csv"
    if not path.is_file():
        raise AwrMimicError(f"{path}: no progress.csv here (is it a run directory?)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise AwrMimicError(f"{path}: progress.csv has no rows yet")
    columns: dict[str, list[float]] = {}
    for name in rows[0]:
        values = []
        for row in rows:
            try:
                values.append(float(row[name]) if row[name] not in ("", None) else math.nan)
            except ValueError:
                values.append(math.nan)
        columns[name] = values
    return columns


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= m * step)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _label(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:.4g}"


def curve_svg(runs: dict[str, dict[str, list[float]]], x: str = "samples",
              ys: tuple[str, ...] = ("eval_normalized_return",), title: str = "",
              width: int = 720, height: int = 420) -> str:
    """SVG text: for each run (label -> columns) and each y column, the finite points against x."""
    series = []
    for r, (label, cols) in enumerate(runs.items()):
        for c, y in enumerate(ys):
            for name in (x, y):
                if name not in cols:
                    raise unknown_name(f"progress.csv column of {label}:", name, cols)
            pts = [(a, b) for a, b in zip(cols[x], cols[y]) if math.isfinite(a) and math.isfinite(b)]
            if pts:
                series.append((f"{label}: {y}" if len(runs) > 1 or len(ys) > 1 else y,
                               PALETTE[r % len(PALETTE)], DASHES[c % len(DASHES)], pts))
    if not series:
        raise AwrMimicError(f"no finite values of {', '.join(ys)} to plot")
    xs = [p[0] for s in series for p in s[3]]
    yv = [p[1] for s in series for p in s[3]]
    x_ticks, y_ticks = _nice_ticks(min(0.0, min(xs)), max(xs)), _nice_ticks(min(0.0, min(yv)), max(yv))
    x0, x1, y0, y1 = x_ticks[0], max(x_ticks[-1], max(xs)), y_ticks[0], max(y_ticks[-1], max(yv))
    left, right, top, bottom = 70, 20, 36 if title else 16, 48 + 16 * len(series)
    pw, ph = width - left - right, height - top - bottom

    def sx(v):
        return left + (v - x0) / (x1 - x0 or 1.0) * pw

    def sy(v):
        return top + ph - (v - y0) / (y1 - y0 or 1.0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>']
    if title:
        out.append(f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>')
    for t in x_ticks:
        out.append(f'<line x1="{sx(t):.1f}" y1="{top}" x2="{sx(t):.1f}" y2="{top + ph}" stroke="#eee"/>')
        out.append(f'<text x="{sx(t):.1f}" y="{top + ph + 16}" text-anchor="middle">{_label(t)}</text>')
    for t in y_ticks:
        out.append(f'<line x1="{left}" y1="{sy(t):.1f}" x2="{left + pw}" y2="{sy(t):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_label(t)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    out.append(f'<text x="{left + pw / 2}" y="{top + ph + 34}" text-anchor="middle">{escape(x)}</text>')
    for i, (name, color, dash, pts) in enumerate(series):
        path = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in pts)
        style = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"{style}/>')
        ly = top + ph + 50 + 16 * i
        out.append(f'<line x1="{left}" y1="{ly - 4}" x2="{left + 24}" y2="{ly - 4}" stroke="{color}" '
                   f'stroke-width="2"{style}/>')
        out.append(f'<text x="{left + 30}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def value_at(cols: dict[str, list[float]], x: str, point: float, y: str = "eval_normalized_return") -> float | None:
    """The last finite `y` in a row whose `x` is at or before `point`.

    None when there is none yet, or when the run ended before `point` (its last `x` is smaller):
    a run that never got there has no value there.
    """
    xs, ys = cols.get(x), cols.get(y)
    if not xs or ys is None:
        return None
    finite_x = [v for v in xs if math.isfinite(v)]
    if not finite_x or finite_x[-1] < point:
        return None
    found = None
    for a, b in zip(xs, ys):
        if math.isfinite(a) and a <= point and math.isfinite(b):
            found = b
    return found


def _cell(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.3f}" if abs(v) < 1 else f"{v:.4g}"


def _count(v: float) -> str:
    """396123 -> 396k, 7460000 -> 7.46M (a sample count, rounded)."""
    if v >= 1e6:
        return f"{v / 1e6:.3g}M"
    return f"{v / 1e3:.0f}k" if v >= 1e4 else f"{v:.0f}"


def _last(cols: dict[str, list[float]], name: str) -> float | None:
    vals = [v for v in cols.get(name, ()) if math.isfinite(v)]
    return vals[-1] if vals else None


def since(cols: dict[str, list[float]], time_s: float, samples: float) -> dict[str, list[float]]:
    """The columns with ``time_s`` and ``samples`` counted from a start (a resumed run's first checkpoint)."""
    out = dict(cols)
    out["time_s"] = [t - time_s for t in cols["time_s"]]
    out["samples"] = [n - samples for n in cols["samples"]]
    return out


def second_half_mean(cols: dict[str, list[float]], y: str = "eval_normalized_return") -> float | None:
    """Mean of the periodic evals in the second half of the time between the first and last rows
    (less noisy than one eval; a resumed run's half is of its own rows, not of the whole run)."""
    t, v = cols.get("time_s", []), cols.get(y, [])
    if not t:
        return None
    middle = (t[0] + t[-1]) / 2
    vals = [b for a, b in zip(t, v) if a >= middle and math.isfinite(b)]
    return sum(vals) / len(vals) if vals else None


def points_table(runs: dict[str, dict[str, list[float]] | None], points_minutes=(), points_samples=(),
                 y: str = "eval_normalized_return") -> str:
    """A markdown table comparing runs (label -> progress.csv columns, or None for a run not made yet).

    One row per run: `y` at each training time (minutes of ``time_s``) and each sample count (the last
    periodic eval at or before the point, see :func:`value_at`; ``-`` when there is none), the mean of
    the evals in the second half of its rows' time, the samples at the end and the end-to-end
    samples/s (samples / time_s of the last row). A line above the table says what the cells are.
    """
    for p in [*points_minutes, *points_samples]:
        if not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
            raise AwrMimicError(f"table points must be positive numbers, got {p!r}")
    for label, cols in runs.items():
        if cols is not None and y not in cols:
            raise unknown_name(f"progress.csv column of {label}:", y, cols)
    head = ([f"{m:g} min" for m in points_minutes] + [_label(float(n)) for n in points_samples]
            + ["2nd half mean", "samples", "samples/s"])
    lines = [f"{y}: the last periodic eval at or before each training time (time_s) and sample count "
             "(- none yet, or the run ended before); 2nd half mean: the mean of the evals in the second "
             "half of the time from the first row to the last", "",
             "| run | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    for label, cols in runs.items():
        cols = cols or {}
        cells = [_cell(value_at(cols, "time_s", 60.0 * m, y)) for m in points_minutes]
        cells += [_cell(value_at(cols, "samples", float(n), y)) for n in points_samples]
        cells.append(_cell(second_half_mean(cols, y)))
        samples, secs = _last(cols, "samples"), _last(cols, "time_s")
        cells.append("-" if samples is None else _count(samples))
        cells.append("-" if samples is None or not secs else f"{samples / secs:.0f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
