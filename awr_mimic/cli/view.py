"""`awr-mimic view`: the interactive browser viewer."""
from __future__ import annotations

HELP = "interactive browser viewer: a checkpoint's policy live in physics, or a clip played kinematically"


def add_arguments(parser):
    add_source_arguments(parser)
    parser.add_argument("--track", action="store_true",
                        help="without a checkpoint: simulate, PD-tracking the reference (no learned policy)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default 127.0.0.1; reach it remotely with ssh -L)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; the next free one if taken)")
    parser.add_argument("--no-ghost", action="store_true", help="hide the translucent reference ghost at start")
    parser.add_argument("--ghost-offset", type=float, default=0.0, metavar="M",
                        help="draw the ghost M metres to the side of the character (default 0)")
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed, 0.1 to 4 (default 1)")
    parser.add_argument("--no-follow", action="store_true", help="start with camera follow off")
    parser.add_argument("--paused", action="store_true", help="start paused")
    parser.add_argument("--random-start", action="store_true",
                        help="start (and restart after a fall) at a random phase instead of phase 0")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random starts")
    parser.add_argument("--env-map", action="store_true",
                        help="image-based lighting (nicer; slow to start under software WebGL)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="another host name the page may be opened under (e.g. behind a proxy); IP addresses, "
                             "localhost and this machine's name always work, other sites' pages never connect")


def add_source_arguments(parser):
    """What to show: shared by view, render and export."""
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="a learner checkpoint (.pt, or a run directory), or a shipped controller by name "
                             "(humanoid/walk; ./humanoid/walk is a folder of that name)")
    parser.add_argument("--character", help="character to play a clip of, without a checkpoint (default humanoid)")
    parser.add_argument("--clip", help="clip name or file (with a checkpoint: switches the reference clip, or is "
                                       "your copy of the clip a controller was shipped without)")


def check_dependencies(*modules: str) -> None:
    """One clear line, not a traceback, when an optional piece is missing."""
    import importlib.util

    from awr_mimic.errors import AwrMimicError

    hints = {"viser": "viser", "imageio": "imageio", "imageio_ffmpeg": "imageio-ffmpeg", "torch": "torch"}
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        names = " ".join(hints.get(m, m) for m in missing)
        raise AwrMimicError(f"this command needs {', '.join(missing)}: pip install {names}")


def check_source(args) -> None:
    from awr_mimic.errors import AwrMimicError

    if args.checkpoint and args.character:
        raise AwrMimicError("--character comes from the checkpoint; pass --checkpoint or --character, not both")
    if getattr(args, "track", False) and args.checkpoint:
        raise AwrMimicError("--track runs without a policy; drop --checkpoint or --track")


def run(args) -> int:
    from awr_mimic.errors import AwrMimicError

    check_source(args)
    check_dependencies("viser", *(["torch"] if args.checkpoint else []))
    if not 0.1 <= args.speed <= 4.0:
        raise AwrMimicError(f"--speed must be between 0.1 and 4, got {args.speed}")
    if not 0 <= args.port <= 65535:
        raise AwrMimicError(f"--port must be 0-65535, got {args.port}")

    from awr_mimic_viewer.app import run_viewer
    from awr_mimic_viewer.policy import make_session

    session = make_session(checkpoint=args.checkpoint, character=args.character, clip=args.clip,
                           track=args.track, random_start=args.random_start, seed=args.seed)
    return run_viewer(
        session, host=args.host, port=args.port, ghost=not args.no_ghost, ghost_offset=args.ghost_offset,
        follow=not args.no_follow, speed=args.speed, playing=not args.paused, environment_map=args.env_map,
        allow_hosts=args.allow_host,
    )
