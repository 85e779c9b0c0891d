"""`awr-mimic motion`: bring your own mocap (BVH import), export clips as BVH, check clips."""
from __future__ import annotations

HELP = "motion capture: import a BVH onto the humanoid, export a clip as BVH, check a clip before training"


def add_arguments(parser):
    sub = parser.add_subparsers(dest="motion_command", metavar="ACTION")
    sub.required = True

    imp = sub.add_parser("import", help="retarget a BVH file onto a character and write a clip",
                         description="Retarget a BVH file onto a character and write a clip "
                                     "(docs/motion_import.md).")
    imp.add_argument("file", metavar="FILE.bvh")
    imp.add_argument("--character", default="humanoid", help="character to retarget onto (default humanoid)")
    imp.add_argument("--out", help="clip to write (default motions/CHARACTER/NAME.txt, where the clip "
                                   "registry finds it by NAME)")
    imp.add_argument("--fps", type=float, default=None,
                     help="resample to this frame rate, e.g. 30 or 60 (default: the file's rate)")
    imp.add_argument("--scale", default="auto", metavar="auto|X",
                     help="metres of the character per BVH unit; auto (default): the character's leg "
                          "length over the source's")
    imp.add_argument("--start", type=float, default=None, metavar="S", help="first second to keep")
    imp.add_argument("--end", type=float, default=None, metavar="E", help="last second to keep")
    imp.add_argument("--loop", choices=("wrap", "none"), default="none",
                     help="wrap: the clip loops (cycles such as walks); none (default): it plays once")
    imp.add_argument("--map", metavar="FILE", help="joint map (TOML or JSON): character joint = source joint")
    imp.add_argument("--ground", choices=("lowest", "keep"), default="lowest",
                     help="lowest (default): shift the clip so the feet's lowest point touches the ground; "
                          "keep: the file's heights, scaled")
    imp.add_argument("--limits", choices=("clip", "keep"), default="clip",
                     help="clip (default): knee and elbow angles within the joint limits; keep: as they come")
    imp.add_argument("--name", help="clip name (default: the file name)")
    imp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    imp.add_argument("--view", action="store_true", help="then play it in the browser viewer (awr-mimic view)")
    imp.set_defaults(_motion=run_import)

    exp = sub.add_parser("export", help="write a clip as BVH (opens in Blender)",
                         description="Write a clip as BVH: the character's zero pose as the rest pose, "
                                     "facing +z with y up.")
    exp.add_argument("clip", metavar="NAME", help="clip name (awr-mimic clips) or file")
    exp.add_argument("--format", choices=("bvh",), default="bvh", help="output format (bvh)")
    exp.add_argument("--character", default="humanoid", help="character the clip is for (default humanoid)")
    exp.add_argument("--out", help="output file (default NAME.bvh)")
    exp.add_argument("--units", choices=("cm", "m"), default="cm", help="length unit of the file (default cm)")
    exp.set_defaults(_motion=run_export)

    chk = sub.add_parser("check", help="report what to fix in a clip before training on it",
                         description="Report foot skating, ground penetration, joint-limit violations and "
                                     "frame-rate gaps. A .bvh file is imported first with the default "
                                     "options. Exit status 0: clean, 1: problems found.")
    chk.add_argument("file", metavar="FILE", help="clip name or file (.txt/.json clip, or .bvh)")
    chk.add_argument("--character", default="humanoid", help="character (default humanoid)")
    chk.add_argument("--map", metavar="FILE", help="joint map, when FILE is a BVH")
    chk.set_defaults(_motion=run_check)


def run(args) -> int:
    return args._motion(args)


def _scale(value: str):
    from awr_mimic.errors import AwrMimicError

    if value == "auto":
        return "auto"
    try:
        scale = float(value)
    except ValueError:
        scale = float("nan")
    if not scale > 0 or scale == float("inf"):
        raise AwrMimicError(f"--scale must be 'auto' or a positive number, got {value!r}")
    return scale


def _import(path, character, args, **options):
    from awr_mimic.anim.bvh import read_bvh
    from awr_mimic.anim.bvh_retarget import bvh_to_clip, load_joint_map

    joint_map = load_joint_map(args.map) if args.map else None
    bvh = read_bvh(path)
    return bvh, bvh_to_clip(bvh, character, joint_map=joint_map, map_source=args.map or "joint map", **options)


def run_import(args) -> int:
    from pathlib import Path

    from awr_mimic.anim.formats import write_clip
    from awr_mimic.anim.motion_check import check_clip
    from awr_mimic.characters import get_character
    from awr_mimic.errors import AwrMimicError

    character = get_character(args.character)
    source = Path(args.file)
    name = args.name or source.stem
    out = Path(args.out) if args.out else Path("motions") / character.name / f"{name}.txt"
    if out.exists() and not args.force:
        raise AwrMimicError(f"{out} exists; pass --force to overwrite it, or --out elsewhere")
    if args.start is not None and args.end is not None and args.end <= args.start:
        raise AwrMimicError(f"--end ({args.end}) must come after --start ({args.start})")
    bvh, result = _import(source, character, args, name=name, fps=args.fps, scale=_scale(args.scale),
                          start=args.start, end=args.end, loop=args.loop, ground=args.ground,
                          limits=args.limits)
    clip = result.clip
    facing = "".join(f"{'+' if v > 0 else '-'}{'XYZ'[i]}" for i, v in enumerate(result.forward) if abs(v) > 0.9)
    print(f"read {source}: {bvh.num_joints} joints, {bvh.num_frames} frames at {result.source_fps:.4g} fps; "
          f"up {result.up_axis}, facing {facing or _vector(result.forward)}")
    width = max(len(k) for k in result.mapping)
    for key, joint in result.mapping.items():
        print(f"  {key:<{width}} <- {joint}  ({result.how.get(key, '')})")
    if result.unmapped:
        print(f"  left at rest (no source joint): {', '.join(result.unmapped)}")
    print(f"scale {result.scale:.6g} m per unit; ground shift {result.ground_shift * 100:+.1f} cm")
    write_clip(clip, out, character.layout, fmt=character.clip_format,
               header={"Comment": f"imported by awr-mimic from {source.name}"})
    print(f"wrote {out}: {clip.num_frames} frames at {clip.fps:.4g} fps, {clip.duration:.3f} s, loop {clip.loop}")
    _report(check_clip(character, clip), indent="  ")
    print(f"play it:  awr-mimic view --character {character.name} --clip {out}")
    print(f"train it: awr-mimic train --character {character.name} --clip {out}")
    if args.view:
        from awr_mimic.cli import main

        return main(["view", "--character", character.name, "--clip", str(out)])
    return 0


def _vector(v) -> str:
    return "(" + ", ".join(f"{x:.2f}" for x in v) + ")"


def _report(problems, indent: str = "") -> None:
    if not problems:
        print(f"{indent}check: clean (no foot skating, ground penetration, joint-limit violation or timing gap)")
        return
    print(f"{indent}check: {len(problems)} problem(s) to look at before training:")
    for problem in problems:
        print(f"{indent}  {problem}")


def run_export(args) -> int:
    from pathlib import Path

    from awr_mimic.anim.bvh import write_bvh
    from awr_mimic.anim.bvh_retarget import clip_to_bvh, uniform
    from awr_mimic.characters import get_character, load_clip

    character = get_character(args.character)
    clip = load_clip(character, args.clip)
    out = Path(args.out) if args.out else Path(f"{clip.name}.bvh")
    bvh = clip_to_bvh(character, clip, units=args.units)
    write_bvh(bvh, out)
    note = "" if uniform(clip) is clip else f" (resampled: the clip's {clip.num_frames} frames are unevenly spaced)"
    print(f"wrote {out}: {bvh.num_joints} joints, {bvh.num_frames} frames at {1 / bvh.frame_time:.4g} fps{note}, "
          f"{'centimetres' if args.units == 'cm' else 'metres'}, facing +z with y up")
    return 0


def run_check(args) -> int:
    from pathlib import Path

    from awr_mimic.anim.motion_check import check_clip
    from awr_mimic.characters import get_character, load_clip

    character = get_character(args.character)
    if Path(args.file).suffix.lower() == ".bvh":
        _, result = _import(Path(args.file), character, args)
        clip = result.clip
        what = f"{args.file} (imported with the default options)"
    else:
        clip = load_clip(character, args.file)
        what = args.file
    problems = check_clip(character, clip)
    print(f"{what}: {clip.num_frames} frames at {clip.fps:.4g} fps, {clip.duration:.3f} s")
    _report(problems)
    return 1 if problems else 0
