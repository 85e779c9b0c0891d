"""`awr-mimic controllers`: the shipped controllers, loadable by name (e.g. `--checkpoint humanoid/walk`)."""
from __future__ import annotations

HELP = "list the shipped controllers (policies you can load by name, e.g. --checkpoint humanoid/walk)"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.epilog = ("A name such as humanoid/walk always loads the shipped controller, even beside a folder of "
                     "that name; reach a file or folder with an explicit path: ./humanoid/walk, an absolute path, "
                     "or a name ending in .pt. A controller shipped without its clip (dog/trot) says which clip "
                     "it tracks: pass your copy with --clip PATH or put it at motions/<character>/<clip>.txt "
                     "(docs/deploy.md).")


def _num(v, fmt: str, scale: float = 1.0) -> str:
    return format(v * scale, fmt) if isinstance(v, (int, float)) and v == v else "-"  # nan: not measured


def _samples(v) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    return f"{v / 1e6:.1f}M" if v >= 1e6 else f"{v / 1e3:.0f}k" if v >= 1e3 else str(int(v))


def _falls(r: dict) -> str:
    """Failed episodes of the measured ones, e.g. 0/16 (- when not measured)."""
    rate, n = r.get("failure_rate"), r.get("eval_episodes")
    if not isinstance(rate, (int, float)) or rate != rate or not isinstance(n, int) or n < 1:
        return "-"
    return f"{round(rate * n)}/{n}"


def _push(v) -> str:
    """The weakest push direction of a controller's push test (metadata["push"], written by
    `awr-mimic eval --push --save-push`), e.g. `50 N left`; — when not measured."""
    if not isinstance(v, dict):
        return "—"
    d = v.get("weakest")
    r = v.get(d) if isinstance(d, str) else None
    if not isinstance(r, dict):
        return "—"
    n = r.get("survived_N")
    if n is None:
        return "falls unpushed"
    return f"{n:g}{'+' if r.get('failed_N') is None else ''} N {d}"


def describe(entry: dict) -> dict:
    """A listing row: name, character, clip, metadata (measured figures), or the one-line read error."""
    from awr_mimic.errors import AwrMimicError
    from awr_mimic.learning.checkpoint import load_checkpoint

    row = {"name": entry["name"], "character": entry["character"], "clip": entry["clip"], "path": str(entry["path"])}
    try:
        state = load_checkpoint(entry["path"])
    except AwrMimicError as exc:
        row["error"] = str(exc)
        return row
    kw = (state.get("env_spec") or {}).get("kwargs") or {}
    row["character"] = kw.get("character", row["character"])
    row["clip"] = kw.get("clip", row["clip"])
    row["kind"] = state["kind"]
    row.update(state.get("metadata") or {})
    return row


def run(args) -> int:
    import json

    from awr_mimic.learning.checkpoint import controllers_dirs, list_controllers

    rows = [describe(e) for e in list_controllers()]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        where = ", ".join(str(d) for d in controllers_dirs())
        print(f"no controllers shipped yet (looked in {where}; AWR_MIMIC_CONTROLLERS names other folders)")
        return 0
    head = ("name", "character", "clip", "norm. return", "falls", "joint err (rad)", "end-eff. err (cm)",
            "weakest push", "samples")
    table = [head]
    for r in rows:
        if "error" in r:
            table.append((r["name"], r["character"], r["clip"], "unreadable", "", "", "", "", ""))
            continue
        table.append((r["name"], str(r["character"]), str(r["clip"]), _num(r.get("normalized_return"), ".3f"),
                      _falls(r),
                      _num(r.get("joint_angle_error"), ".3f"), _num(r.get("end_effector_error"), ".1f", 100.0),
                      _push(r.get("push")), _samples(r.get("samples"))))
    widths = [max(len(t[i]) for t in table) for i in range(len(head))]
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())
    for r in rows:
        if "error" in r:
            print(f"{r['name']}: {r['error']}")
    return 0
