"""The clip registry: a character's clips by short name.

Sources, in order of precedence:
  1. built-in: the character's clip folders (pybullet_data's humanoid3d_*.txt);
  2. shipped: the package's motions/<character>/ folder;
  3. the user's: $AWR_MIMIC_MOTIONS folders and ./motions, each as <dir>/<character>/*.txt;
  4. any file path given in place of a name: it has a folder (``./take.txt``, ``a/b``) or ends in
     ``.txt``/``.json``. A bare word is always a name: it never reads a file of that name in the
     current directory.

Checkpoints store a clip by name only (:func:`is_clip_name`); a run trained on a file stores the
name :func:`stored_name` derives from it, with the file's name and :func:`file_sha256`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from awr_mimic import paths
from awr_mimic.paths import file_sha256  # noqa: F401  (re-exported: clips are identified by it)
from awr_mimic.anim.clip import Clip
from awr_mimic.anim.formats import FORMATS, read_clip
from awr_mimic.characters.character import Character, get_character
from awr_mimic.errors import AwrMimicError, ClipError, unknown_name

CLIP_SUFFIXES = (".txt", ".json")
# what a clip name may look like (a file stem in a motions folder): no folder, no leading dot or ~
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
DEEPMIMIC_PREFIX = re.compile(r"^[A-Za-z0-9]+3d_(?=.)")  # humanoid3d_walk, dog3d_trot


def is_clip_path(value: str) -> bool:
    """Whether `value` names a file rather than a registered clip: a folder part, ~, or a clip suffix."""
    s = str(value)
    return "/" in s or os.sep in s or "\\" in s or s.startswith(("~", ".")) or Path(s).suffix in CLIP_SUFFIXES


def is_clip_name(value) -> bool:
    """A registered clip's name as a checkpoint may store it: a short word, never a path."""
    return isinstance(value, str) and bool(NAME_RE.fullmatch(value)) and not is_clip_path(value)


def stored_name(path: str | os.PathLike) -> str:
    """The name a clip file is stored under in a checkpoint: its stem without DeepMimic's
    ``<character>3d_`` prefix (``dog3d_trot.txt`` -> ``trot``), other characters replaced by ``_``."""
    stem = DEEPMIMIC_PREFIX.sub("", Path(path).stem)
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", stem).lstrip("._+-")[:64]
    return name or "clip"


def registered_clip(character: Character | str, name: str) -> ClipEntry | None:
    """The clip registered under `name` for `character` (built-in, shipped, the user's folders), or None."""
    for e in list_clips(character):
        if e.name == name:
            return e
    return None


@dataclass(frozen=True)
class ClipEntry:
    name: str
    character: str
    path: Path
    source: str  # builtin | shipped | user | path


def list_clips(character: Character | str) -> list[ClipEntry]:
    character = get_character(character) if isinstance(character, str) else character
    entries: dict[str, ClipEntry] = {}

    def add(name: str, path: Path, source: str):
        entries.setdefault(name, ClipEntry(name, character.name, path, source))

    for spec, prefix in character.builtin_clip_dirs:
        folder = paths.resolve(spec)
        if folder.is_dir():
            for f in sorted(folder.glob(f"{prefix}*")):
                if f.suffix in CLIP_SUFFIXES and f.is_file():
                    add(f.stem[len(prefix):], f, "builtin")
    for folder, source in [(paths.motions_dir(), "shipped")] + [(d, "user") for d in paths.user_motion_dirs()]:
        folder = folder / character.name
        if folder.is_dir():
            for f in sorted(folder.iterdir()):
                if f.suffix in CLIP_SUFFIXES and f.is_file():
                    add(f.stem, f, source)
    return sorted(entries.values(), key=lambda e: e.name)


def resolve_clip(character: Character | str, name_or_path: str) -> ClipEntry:
    character = get_character(character) if isinstance(character, str) else character
    path = Path(name_or_path).expanduser()
    if is_clip_path(name_or_path):
        if not path.is_file():
            raise ClipError(f"{name_or_path}: no such clip file")
        return ClipEntry(path.stem, character.name, path.resolve(), "path")
    entries = {e.name: e for e in list_clips(character)}
    if name_or_path not in entries:
        raise unknown_name(f"clip for character {character.name!r}", name_or_path, entries)
    return entries[name_or_path]


def load_clip(character: Character | str, name_or_path: str) -> Clip:
    """Load a clip by short name or path, validated against the character's layout."""
    character = get_character(character) if isinstance(character, str) else character
    entry = resolve_clip(character, name_or_path)
    return _load(character, entry.path, entry.name)


@lru_cache(maxsize=64)
def _load_cached(character_name: str, character_source: str, path: str, mtime: float, name: str) -> Clip:
    character = get_character(character_source)
    if character.clip_format in FORMATS:  # the file's content decides; clips.format is the fallback
        return read_clip(path, character.layout, name=name, character=character.name,
                         default_format=character.clip_format)
    raise AwrMimicError(f"character {character.name!r}: unknown clip format {character.clip_format!r}")


def _load(character: Character, path: Path, name: str) -> Clip:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise ClipError(f"{path}: no such clip file") from None
    return _load_cached(character.name, str(character.source), str(path), mtime, name)
