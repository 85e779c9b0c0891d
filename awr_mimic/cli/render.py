"""`awr-mimic render`: a headless video (MP4, GIF or WebP) of a policy or a clip, with the reference ghost."""
from __future__ import annotations

from awr_mimic.cli.view import add_source_arguments, check_dependencies, check_source

HELP = "headless video (.mp4/.gif/.webp) of a checkpoint's policy or a clip, with the reference ghost"


def add_arguments(parser):
    add_source_arguments(parser)
    parser.add_argument("--out", required=True, metavar="VIDEO",
                        help="output file: .mp4, .gif, or .webp (animated, lossy: the smallest for a README)")
    parser.add_argument("--seconds", type=float, help="length of the video (default: 5 for .mp4, 4 for .gif/.webp)")
    parser.add_argument("--width", type=int, help="frame width in pixels (default: 640 for .mp4, 400 for .gif/.webp)")
    parser.add_argument("--height", type=int,
                        help="frame height in pixels (default: 480 for .mp4, 300 for .gif/.webp)")
    parser.add_argument("--fps", type=float, help="frames per second (default: 30 for .mp4, 15 for .gif/.webp)")
    parser.add_argument("--quality", type=int, metavar="Q", help=".webp: lossy quality 0-100 (default 60)")
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
    from awr_mimic_viewer.render import check_output, render_video, video_defaults

    check_output(args.out)  # a bad extension fails before any work
    if args.quality is not None and not args.out.lower().endswith(".webp"):
        from awr_mimic.errors import ConfigError

        raise ConfigError("--quality applies to .webp output")
    session = make_session(checkpoint=args.checkpoint, character=args.character, clip=args.clip,
                           track=args.track, random_start=args.random_start, seed=args.seed)
    try:
        stats = render_video(session, args.out, seconds=args.seconds, width=args.width, height=args.height,
                             fps=args.fps, ghost=not args.no_ghost, ghost_offset=args.ghost_offset,
                             egl=not args.tiny, quality=args.quality)
    finally:
        session.close()
    import os

    _, width, height, _ = video_defaults(args.out, args.seconds, args.width, args.height, args.fps)
    size = os.path.getsize(args.out) / 1e3
    print(f"wrote {args.out} ({size:.0f} KB): {stats.frames} frames {width}x{height} in {stats.seconds:.1f} s "
          f"({stats.fps:.1f} fps, {stats.renderer} renderer)")
    return 0
