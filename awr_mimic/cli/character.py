"""`awr-mimic character`: list, show and import characters."""
from __future__ import annotations

from pathlib import Path

HELP = "characters: list, show NAME, import a DeepMimic character file (URDF + character TOML)"


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    sub.add_parser("list", help="known characters and where their definitions live")
    show = sub.add_parser("show", help="a character's model: links, DoF, mass, joints, end effectors")
    show.add_argument("name", help="character name or path of its .toml")
    imp = sub.add_parser(
        "import",
        help="convert a DeepMimic character file (+ controller file) to URDF and a character TOML",
        description="Convert a DeepMimic character (Skeleton/BodyDefs JSON) and its controller file "
        "(PD gains) to <out>/<name>.urdf and <out>/<name>.toml. Lengths are metres (DeepMimic's "
        "--world_scale is an internal physics scaling, not part of the model).",
    )
    imp.add_argument("character_file", help="DeepMimic character file, e.g. data/characters/dog3d.txt")
    imp.add_argument("--ctrl", help="DeepMimic controller file with the PD gains, e.g. dog3d_ctrl.txt")
    imp.add_argument("--out", default=".", help="output folder (default: .)")
    imp.add_argument("--name", help="character name (default: the file's stem)")
    imp.add_argument("--scale", type=float, default=1.0, help="multiply lengths by this (default 1: metres)")
    imp.add_argument("--default-clip", help="clip name used when none is given")
    imp.add_argument("--allow-contact", nargs="+", default=[], metavar="LINK",
                     help="links that may also touch the ground without ending an episode")
    imp.add_argument("--no-self-collision", action="store_true",
                     help="links of the character do not collide with each other (DeepMimic's behaviour)")
    imp.add_argument("--min-inertia", type=float, default=0.0, metavar="KGM2",
                     help="raise every principal moment of inertia to at least this (an armature; "
                     "keeps pybullet's stable PD stable on light links; 0.003 for the dog)")
    imp.add_argument("--credit", default="", help="extra comment lines for the TOML header (e.g. the source's licence)")


def run(args) -> int:
    if args.action == "list":
        return _list()
    if args.action == "show":
        return _show(args.name)
    return _import(args)


def _list() -> int:
    from awr_mimic.characters.character import character_files, load_character_file

    for name, path in character_files().items():
        try:
            desc = load_character_file(path).description
        except Exception as exc:  # a broken user file should not hide the others
            desc = f"(cannot read: {exc})"
        print(f"{name:12s} {desc}\n{'':12s} {path}")
    return 0


def _show(name: str) -> int:
    from awr_mimic.characters.character import get_character

    c = get_character(name)
    sk = c.skeleton
    layout = c.layout
    dofs = 6 + layout.action_size
    print(f"{c.name}: {c.description}")
    print(f"  definition: {c.source}")
    print(f"  URDF:       {c.urdf} (scale {c.scale:g}, {c.up_axis and 'yz'[c.up_axis - 1]}-up)")
    print(f"  links: {sk.num_links} + base; DoF: {dofs} ({layout.action_size} actuated + 6 root); mass {sk.total_mass:.4g} kg")
    print(f"  clip format: {c.clip_format} (quaternions {c.quat_order}); default clip: {c.default_clip}")
    print(f"  end effectors: {', '.join(c.end_effectors)}")
    print("  joints (clip column order):   kp      kd   torque  weight")
    for j, (_, t, _) in zip(c.joints, layout.joints):
        print(f"    {j.name:22s} {t[:3]}  {j.kp:6g}  {j.kd:6g}  {j.torque_limit:6g}  {j.reward_weight:.4f}")
    return 0


def _import(args) -> int:
    from awr_mimic.characters.deepmimic_import import import_character

    credit = (
        f"Converted by `awr-mimic character import` from {Path(args.character_file).name}"
        + (f" and {Path(args.ctrl).name}" if args.ctrl else "")
        + "."
    )
    if args.credit:
        credit = args.credit.replace("\\n", "\n") + "\n" + credit
    urdf, toml, c = import_character(
        args.character_file, args.ctrl, args.out, name=args.name, scale=args.scale,
        default_clip=args.default_clip, credit=credit, allow_contact=args.allow_contact,
        self_collision=not args.no_self_collision, min_inertia=args.min_inertia,
    )
    if args.ctrl is None:
        print("note: no --ctrl given; PD gains are 0 in the TOML, edit them before simulating")
    print(f"wrote {urdf}")
    print(f"wrote {toml}")
    print(f"{c.name}: {len(c.joints)} links, {c.num_dofs} DoF ({c.num_dofs - 6} actuated + 6 root), {c.total_mass:g} kg")
    return 0
