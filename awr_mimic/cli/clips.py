"""`awr-mimic clips`: the clips each character can use, and where they come from."""
from __future__ import annotations

from awr_mimic.errors import AwrMimicError

HELP = "list motion clips: name, character, frames, fps, duration, loop mode and source"


def add_arguments(parser):
    parser.add_argument("--character", help="only this character (default: all)")
    parser.add_argument("--check", metavar="PATH", help="validate one clip file for --character and report it")


def run(args) -> int:
    from awr_mimic.characters import character_files, get_character, list_clips, load_clip

    if args.check:
        character = get_character(args.character or "humanoid")
        clip = load_clip(character, args.check)
        print(f"{args.check}: ok ({character.name}, {clip.num_frames} frames, {clip.fps:.0f} fps, "
              f"{clip.duration:.3f} s, loop {clip.loop})")
        return 0
    names = [args.character] if args.character else sorted(character_files())
    rows = []
    for name in names:
        character = get_character(name)
        for entry in list_clips(character):
            try:
                clip = load_clip(character, str(entry.path))
                rows.append((entry.name, character.name, str(clip.num_frames), f"{clip.fps:.0f}",
                             f"{clip.duration:.3f}", clip.loop, f"{entry.source}: {entry.path}"))
            except AwrMimicError as exc:
                rows.append((entry.name, character.name, "-", "-", "-", "-", f"{entry.source}: INVALID: {exc}"))
    header = ("clip", "character", "frames", "fps", "seconds", "loop", "source")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header) - 1)]
    for row in [header] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    if not rows:
        print("(no clips found)")
    return 0
