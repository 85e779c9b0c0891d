"""`awr-mimic retarget`: move a clip from one character onto another (keypoints + IK)."""
from __future__ import annotations

HELP = "retarget a clip between characters: keypoints from the source's FK, IK on the target"


def add_arguments(parser):
    parser.add_argument("--source-character", required=True, help="character the clip is for (name or .toml)")
    parser.add_argument("--clip", required=True, help="clip name or path, for the source character")
    parser.add_argument("--target-character", required=True, help="character to retarget onto (name or .toml)")
    parser.add_argument("--map", required=True, help="retarget map (TOML): keypoint pairs, axes, scale; "
                        "see awr_mimic/anim/retarget.py and motions/dog/laikago_to_dog.toml")
    parser.add_argument("--out", required=True, help="output clip file")
    parser.add_argument("--format", choices=("deepmimic", "motion_imitation"), default=None,
                        help="output format (default: the target character's clips.format)")
    parser.add_argument("--quiet", action="store_true", help="no per-frame progress")


def run(args) -> int:
    import numpy as np

    from awr_mimic.anim.formats import write_clip
    from awr_mimic.anim.retarget import load_map, retarget
    from awr_mimic.anim.shapes import clip_ground_clearance
    from awr_mimic.characters import get_character, load_clip
    from pathlib import Path

    mapping = load_map(args.map)
    source = get_character(args.source_character)
    target = get_character(args.target_character)
    clip = load_clip(source, args.clip)
    out = Path(args.out)

    def progress(i, n, err):
        if not args.quiet:
            print(f"  frame {i}/{n}: keypoint rms error {err * 100:.2f} cm", flush=True)

    result = retarget(source, clip, target, mapping, name=out.stem, progress=progress)
    fmt = args.format or target.clip_format
    header = {"Comment": f"retargeted by awr-mimic from {source.name} clip {clip.name} "
                         f"({Path(clip.source).name}) onto {target.name} with {Path(args.map).name}"}
    write_clip(result, out, target.layout, fmt=fmt, header=header)
    _, low = clip_ground_clearance(target, result)
    print(f"wrote {out}: {result.num_frames} frames, {result.duration:.3f} s, loop {result.loop}; "
          f"lowest body point {low.min() * 100:+.1f} to {low.max() * 100:+.1f} cm")
    return 0
