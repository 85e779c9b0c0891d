import xml.etree.ElementTree as ET

import pytest

from awr_mimic.cli import main
from awr_mimic.errors import AwrMimicError
from awr_mimic.learning.curves import curve_svg, read_progress

SVG = "{http://www.w3.org/2000/svg}"


def _run(tmp_path, name, evals):
    d = tmp_path / name
    d.mkdir()
    lines = ["iteration,samples,normalized_return,eval_normalized_return"]
    for i, e in enumerate(evals):
        lines.append(f"{i},{(i + 1) * 4096},{0.01 * i},{'' if e is None else e}")
    (d / "progress.csv").write_text("\n".join(lines) + "\n")
    return d


def test_plot_draws_one_line_per_run_and_column_skipping_empty_cells(tmp_path):
    a = _run(tmp_path, "a", [0.1, None, 0.3, None, 0.5])
    b = _run(tmp_path, "b", [0.2, 0.2, None])
    out = tmp_path / "c.svg"
    assert main(["plot", str(a), str(b), "--out", str(out), "--title", "walk <test>"]) == 0
    root = ET.fromstring(out.read_text())  # well-formed, title escaped
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 4  # 2 runs x (eval, train)
    counts = sorted(len(p.get("points").split()) for p in lines)
    assert counts == [2, 3, 3, 5]  # eval rows without a value are skipped
    legend = [t.text for t in root.findall(f"{SVG}text")]
    assert "a: eval_normalized_return" in legend and "b: normalized_return" in legend


def test_points_rise_on_screen_when_values_rise(tmp_path):
    svg = curve_svg({"r": read_progress(_run(tmp_path, "r", [0.1, 0.2, 0.4]))})
    pts = ET.fromstring(svg).find(f"{SVG}polyline").get("points").split()
    xs = [float(p.split(",")[0]) for p in pts]
    ys = [float(p.split(",")[1]) for p in pts]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)  # SVG y grows downwards


def test_bad_input_is_one_line(tmp_path, capsys):
    run = _run(tmp_path, "r", [0.1])
    with pytest.raises(AwrMimicError, match="did you mean 'eval_normalized_return'"):
        curve_svg({"r": read_progress(run)}, ys=("eval_normalised_return",))
    assert main(["plot", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no progress.csv" in err[0]


def test_runs_are_named_by_directory_or_by_curve_file(tmp_path, capsys):
    a = _run(tmp_path, "a", [0.1, 0.2])
    curves = tmp_path / "curves"
    curves.mkdir()
    for name in ("walk.csv", "walk_seed1.csv"):
        (curves / name).write_text((a / "progress.csv").read_text())
    assert main(["plot", str(a / "progress.csv"), str(curves / "walk.csv"), str(curves / "walk_seed1.csv"),
                 "--table", "--points-samples", "8192"]) == 0
    rows = [line.split("|")[1].strip() for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert rows[2:] == ["a", "walk", "walk_seed1"]
