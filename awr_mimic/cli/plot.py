"""`awr-mimic plot`: learning curves of one or more runs as an SVG file."""
from __future__ import annotations

from pathlib import Path

HELP = "plot progress.csv of one or more runs (e.g. eval normalised return vs samples) to an SVG"


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories or progress.csv files")
    parser.add_argument("--out", default="curve.svg", help="SVG file to write (default: curve.svg)")
    parser.add_argument("--x", default="samples", help="x column (default: samples; time_s also works)")
    parser.add_argument("--y", default="eval_normalized_return,normalized_return",
                        help="comma-separated y columns (default: eval_normalized_return,normalized_return)")
    parser.add_argument("--label", action="append", help="legend label per run (default: its directory name)")
    parser.add_argument("--title", default="")


def run(args) -> int:
    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.curves import curve_svg, read_progress

    labels = args.label or []
    if labels and len(labels) != len(args.runs):
        raise ConfigError(f"--label given {len(labels)} times for {len(args.runs)} runs")
    runs = {}
    for i, path in enumerate(args.runs):
        p = Path(path)
        name = labels[i] if labels else (p.name if p.is_dir() else p.parent.name or p.stem)
        runs[name if name not in runs else f"{name} ({i})"] = read_progress(p)
    ys = tuple(y.strip() for y in args.y.split(",") if y.strip())
    svg = curve_svg(runs, x=args.x, ys=ys, title=args.title)
    Path(args.out).write_text(svg)
    print(f"wrote {args.out}")
    return 0
