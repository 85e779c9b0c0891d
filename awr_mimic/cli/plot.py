"""`awr-mimic plot`: learning curves of one or more runs as an SVG file, or a table at fixed points."""
from __future__ import annotations

from pathlib import Path

HELP = "plot progress.csv of one or more runs (e.g. eval normalised return vs samples) to an SVG, or --table"


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories or progress.csv files")
    parser.add_argument("--out", help="SVG file to write (default: curve.svg; with --table only if given)")
    parser.add_argument("--x", default="samples", help="x column (default: samples; time_s also works)")
    parser.add_argument("--y", default="eval_normalized_return,normalized_return",
                        help="comma-separated y columns (default: eval_normalized_return,normalized_return); "
                             "--table uses the first")
    parser.add_argument("--label", action="append", help="legend label per run (default: its directory name)")
    parser.add_argument("--title", default="")
    t = parser.add_argument_group("table (the same as `awr-mimic bench arms` prints)")
    t.add_argument("--table", action="store_true",
                   help="print a markdown table: the first --y column at fixed training times and sample counts, "
                        "samples at the end and samples/s")
    t.add_argument("--points-minutes", metavar="M,M,...", help="table columns in minutes of training time (time_s)")
    t.add_argument("--points-samples", metavar="N,N,...", help="table columns in samples (100000, 1e5 or 100k)")


def parse_points(text: str | None, flag: str) -> list[float]:
    """``"5,10,11.5"`` or ``"100k,2e5,1M"`` -> numbers; a bad item is a one-line error."""
    from awr_mimic.errors import ConfigError

    out = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        scale = {"k": 1e3, "m": 1e6}.get(item[-1].lower(), 1.0)
        try:
            v = float(item[:-1] if scale != 1.0 else item) * scale
        except ValueError:
            raise ConfigError(f"{flag}: expected comma-separated numbers such as 5,10 or 100k,200k, got {item!r}") \
                from None
        if not v > 0 or v == float("inf"):
            raise ConfigError(f"{flag}: points must be positive, got {item!r}")
        out.append(v)
    return out


def run(args) -> int:
    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.curves import curve_svg, points_table, read_progress

    labels = args.label or []
    if labels and len(labels) != len(args.runs):
        raise ConfigError(f"--label given {len(labels)} times for {len(args.runs)} runs")
    minutes = parse_points(args.points_minutes, "--points-minutes")
    samples = parse_points(args.points_samples, "--points-samples")
    if args.table and not (minutes or samples):
        raise ConfigError("--table needs --points-minutes M,M,... and/or --points-samples N,N,...")
    runs = {}
    for i, path in enumerate(args.runs):
        p = Path(path)
        # a run directory or its progress.csv: the run's name; a renamed curve (docs/curves/x.csv): x
        name = labels[i] if labels else (p.name if p.is_dir() else
                                         (p.parent.name or p.stem) if p.name == "progress.csv" else p.stem)
        runs[name if name not in runs else f"{name} ({i})"] = read_progress(p)
    ys = tuple(y.strip() for y in args.y.split(",") if y.strip())
    if args.table:
        y = ys[0] if ys else "eval_normalized_return"
        print(points_table(runs, minutes, [int(n) if n == int(n) else n for n in samples], y=y), end="")
        if args.out is None:
            return 0
    out = args.out or "curve.svg"
    svg = curve_svg(runs, x=args.x, ys=ys, title=args.title)
    Path(out).write_text(svg)
    print(f"wrote {out}")
    return 0
