"""`awr-mimic convert-checkpoint`: rewrite a format-1 checkpoint (pickled numpy values) as format 2.

Format 2 loads with ``torch.load(weights_only=True)``: nothing in the file can run. Reading a format-1
file means unpickling it, which can run any code the file carries, so this command does it only when
told ``--trust``, once, for a file the user made or trusts.
"""
from __future__ import annotations

HELP = "convert a format-1 checkpoint (needs unpickling) to format 2 (weights only); only with --trust"


def add_arguments(parser):
    parser.add_argument("old", metavar="OLD", help="the format-1 checkpoint (.pt)")
    parser.add_argument("--out", required=True, metavar="NEW", help="the format-2 checkpoint to write")
    parser.add_argument("--trust", action="store_true",
                        help="I made this file or trust it: unpickle it (a pickle can run code on this machine)")


def run(args) -> int:
    from pathlib import Path

    from awr_mimic.learning.checkpoint import convert_checkpoint

    state = convert_checkpoint(args.old, args.out, trust=args.trust)
    size = Path(args.out).stat().st_size / 1e6
    c = state.get("counters") or {}
    print(f"wrote {args.out} ({size:.1f} MB, format 2, {state['kind']}: iteration {c.get('iteration', '?')}, "
          f"samples {c.get('samples', '?')}); it loads without unpickling")
    return 0
