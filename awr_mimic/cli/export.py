"""`awr-mimic export`: a standalone HTML replay (viser scene export) that plays without a server."""
from __future__ import annotations

from awr_mimic.cli.view import add_source_arguments, check_dependencies, check_source

HELP = "standalone HTML replay of a checkpoint's policy or a clip (plays in a browser, no server)"


def add_arguments(parser):
    add_source_arguments(parser)
    parser.add_argument("--out", required=True, metavar="HTML", help="output file (.html)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the replay (default 5)")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    parser.add_argument("--track", action="store_true",
                        help="without a checkpoint: simulate, PD-tracking the reference (no learned policy)")
    parser.add_argument("--no-ghost", action="store_true", help="leave the reference ghost out")
    parser.add_argument("--ghost-offset", type=float, default=0.0, metavar="M",
                        help="draw the ghost M metres to the side of the character")
    parser.add_argument("--random-start", action="store_true", help="start at a random phase instead of phase 0")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--dark", action="store_true", help="dark colour scheme")


def run(args) -> int:
    check_source(args)
    check_dependencies("viser", *(["torch"] if args.checkpoint else []))
    from awr_mimic.errors import AwrMimicError
    from pathlib import Path

    if Path(args.out).suffix.lower() not in (".html", ".htm"):
        raise AwrMimicError(f"{args.out}: the replay is an HTML page: use a .html file name")
    from awr_mimic_viewer.export import export_html
    from awr_mimic_viewer.policy import make_session

    session = make_session(checkpoint=args.checkpoint, character=args.character, clip=args.clip,
                           track=args.track, random_start=args.random_start, seed=args.seed)
    try:
        info = export_html(session, args.out, seconds=args.seconds, fps=args.fps, ghost=not args.no_ghost,
                           ghost_offset=args.ghost_offset, dark_mode=args.dark)
    finally:
        session.close()
    print(f"wrote {args.out}: {info['frames']} frames, {info['bytes'] / 1e6:.1f} MB, in {info['seconds']:.1f} s "
          f"(open it in a browser; no server needed)")
    return 0
