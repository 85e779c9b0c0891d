"""`awr-mimic render`: a headless video (MP4 or GIF) of a policy or a clip, with the reference ghost."""
from __future__ import annotations

from awr_mimic.cli.view import add_source_arguments, check_dependencies, check_source

HELP = "headless video (.mp4/.gif) of a checkpoint's policy or a clip, with the reference ghost"


def add_arguments(parser):
    add_source_arguments(parser)
    parser.add_argument("--out", required=True, metavar="VIDEO", help="output file: .mp4 or .gif")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the video (default 5)")
    parser.add_argument("--width", type=int, default=640, help="frame width in pixels (default 640)")
    parser.add_argument("--height", type=int, default=480, help="frame height in pixels (default 480)")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    parser.add_argument("--track", action="store_true",
                        help="without a checkpoint: simulate, PD-tracking the reference (no learned policy)")
    parser.add_argument("--no-ghost", action="store_true", help="leave the reference ghost out")
    parser.add_argument("--ghost-offset", type=float, default=0.0, metavar="M",
                        help="draw the ghost M metres to the side of the character")
    parser.add_argument("--random-start", action="store_true", help="start at a random phase instead of phase 0")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--tiny", action="store_true", help="use pybullet's tiny software renderer, not EGL")


def run(args) -> int:
    check_source(args)
    check_dependencies("imageio", "imageio_ffmpeg", *(["torch"] if args.checkpoint else []))
    from awr_mimic_viewer.policy import make_session
    from awr_mimic_viewer.render import check_output, render_video

    check_output(args.out)  # a bad extension fails before any work
    session = make_session(checkpoint=args.checkpoint, character=args.character, clip=args.clip,
                           track=args.track, random_start=args.random_start, seed=args.seed)
    try:
        stats = render_video(session, args.out, seconds=args.seconds, width=args.width, height=args.height,
                             fps=args.fps, ghost=not args.no_ghost, ghost_offset=args.ghost_offset,
                             egl=not args.tiny)
    finally:
        session.close()
    print(f"wrote {args.out}: {stats.frames} frames {args.width}x{args.height} in {stats.seconds:.1f} s "
          f"({stats.fps:.1f} fps, {stats.renderer} renderer)")
    return 0
