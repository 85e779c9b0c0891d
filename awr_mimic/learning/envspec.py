"""A picklable description of an environment: a gymnasium id plus kwargs.

Sampler workers rebuild the env from it (``import awr_mimic, gymnasium;
gymnasium.make(id, **kwargs)``) and checkpoints store it, so a checkpoint
alone rebuilds the env.

A checkpoint stores the imitation env's clip by name only (:meth:`EnvSpec.stored`): a clip given
as a file is stored under the name :func:`~awr_mimic.characters.clips.stored_name` derives from it,
and ``clip_origin`` records that file's name and sha256, so a later load can say which clip the
policy tracks and where to put it when it is not here (:meth:`EnvSpec.check_clip`).
"""
from __future__ import annotations

import dataclasses
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from awr_mimic.errors import ClipError, ConfigError, show


@lru_cache(maxsize=32)
def _sha256(path: str, mtime: float, size: int) -> str:
    from awr_mimic.paths import file_sha256

    return file_sha256(path)


def clip_sha256(path) -> str:
    st = os.stat(path)
    return _sha256(str(Path(path).resolve()), st.st_mtime, st.st_size)


def _clip_label(origin: dict) -> str:
    """``DeepMimic's dog3d_trot.txt`` / ``take.txt``: the file a stored clip was made from."""
    import re

    f = str(origin.get("file") or "")
    if not f:
        return ""
    return f"DeepMimic's {f}" if re.fullmatch(r"[a-z]+3d_\w+\.txt", f) else f


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    id: str
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    # imitation env: where a clip stored by name came from: {"name", "file", "sha256"} (None: a registered clip)
    clip_origin: dict | None = dataclasses.field(default=None, compare=False)

    def make(self, **overrides):
        import gymnasium

        import awr_mimic  # noqa: F401  (registers awr_mimic/Mimic-v0)

        if "clip" not in overrides:
            self.check_clip()
        kwargs = {**self.kwargs, **overrides}
        try:
            return gymnasium.make(self.id, **kwargs)
        except gymnasium.error.Error as exc:
            # unknown ids, bad versions: one line, not a traceback
            raise ConfigError(f"cannot make env {self.id!r}: {str(exc).splitlines()[0]}") from exc

    @property
    def is_mimic(self) -> bool:
        import awr_mimic

        return self.id == awr_mimic.ENV_ID

    # -- clips ---------------------------------------------------------------------
    @property
    def character(self) -> str:
        return str(self.kwargs.get("character", "humanoid"))

    def with_clip(self, clip: str | None, note: bool = True) -> "EnvSpec":
        """This spec with the clip the user chose (a name or a file path); None: unchanged.

        A clip stored by name keeps its name (the run still tracks that clip, from the user's copy);
        with `note`, one line on stderr when the copy differs from the file the policy was trained on.
        """
        if clip is None:
            return self
        if not self.is_mimic:
            raise ConfigError(f"--clip applies to motion-imitation policies; this one is for {self.id}")
        origin = dict(self.clip_origin) if self.clip_origin else None
        clip = str(clip)
        if origin is not None:
            from awr_mimic.characters.clips import is_clip_path

            if is_clip_path(clip):
                p = Path(clip).expanduser()
                if note and p.is_file() and origin.get("sha256") and clip_sha256(p) != origin["sha256"]:
                    print(f"note: {clip} differs from {_clip_label(origin) or 'the clip file'}, the clip this policy "
                          f"was trained on (sha256 {origin['sha256'][:12]}); it tracks your file", file=sys.stderr,
                          flush=True)
            elif clip != origin.get("name"):
                origin = None  # another registered clip altogether
        return EnvSpec(self.id, {**self.kwargs, "clip": clip}, origin)

    def check_clip(self, note: bool = False) -> None:
        """One line when the clip this spec stores by name is not here (not shipped, not in the user's
        motions folders): which clip it tracks and where to put it. Nothing for other specs."""
        if not self.is_mimic or not self.clip_origin:
            return
        from awr_mimic.characters.clips import is_clip_path, registered_clip

        clip = self.kwargs.get("clip")
        if not isinstance(clip, str) or is_clip_path(clip):
            return  # the user's file
        entry = registered_clip(self.character, clip)
        origin = self.clip_origin
        made = _clip_label(origin)
        sha = origin.get("sha256")
        if entry is None:
            what = f"{made} (sha256 {sha[:12]})" if made and sha else made or "a clip file"
            raise ClipError(f"this policy tracks the {self.character} clip {clip!r}, made from {what}, which is not "
                            f"here (not shipped): put your copy at motions/{self.character}/{clip}.txt or pass "
                            f"--clip PATH")
        if note and sha and entry.source in ("user", "path"):
            try:
                same = clip_sha256(entry.path) == sha
            except OSError:
                return
            if not same:
                print(f"note: {entry.path} differs from {made or 'the clip file'}, the clip this policy was trained "
                      f"on (sha256 {sha[:12]})", file=sys.stderr, flush=True)

    def stored(self) -> "EnvSpec":
        """What a checkpoint stores: the clip (and character) by name, never a file path.

        A clip file becomes the name it was stored under before (``clip_origin``) or the one
        :func:`stored_name` derives (``dog3d_trot.txt`` -> ``trot``), plus its file name and sha256.
        """
        if not self.is_mimic:
            return self
        from awr_mimic.characters.clips import is_clip_path, stored_name

        kwargs = dict(self.kwargs)
        character = kwargs.get("character")
        if isinstance(character, str) and (character.endswith(".toml") or "/" in character or os.sep in character):
            from awr_mimic.characters import get_character

            kwargs["character"] = get_character(character).name
        clip = kwargs.get("clip")
        origin = self.clip_origin
        if isinstance(clip, str) and is_clip_path(clip):
            p = Path(clip).expanduser()
            name = (origin or {}).get("name") or stored_name(p)
            origin = {"name": name, "file": p.name, "sha256": clip_sha256(p)}
            kwargs["clip"] = name
        return EnvSpec(self.id, kwargs, origin)

    def renamed_clip(self, name: str) -> "EnvSpec":
        """The stored spec with its clip stored under `name` (``awr-mimic slim --clip-name``)."""
        from awr_mimic.characters.clips import is_clip_name

        if not self.is_mimic:
            raise ConfigError(f"--clip-name applies to motion-imitation policies; this one is for {self.id}")
        if not is_clip_name(name):
            raise ConfigError(f"--clip-name {name!r}: a clip name is a short word (letters, digits, _ . + -), "
                              "not a path")
        spec = self.stored()
        origin = dict(spec.clip_origin or {})
        origin["name"] = name
        return EnvSpec(spec.id, {**spec.kwargs, "clip": name}, origin)

    # -- (de)serialisation ---------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"id": self.id, "kwargs": dict(self.kwargs)}
        if self.clip_origin:
            d["clip_origin"] = dict(self.clip_origin)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EnvSpec":
        """From a dict this program made (trusted). Files go through :func:`from_file`."""
        return cls(id=d["id"], kwargs=dict(d.get("kwargs") or {}), clip_origin=d.get("clip_origin") or None)

    @classmethod
    def from_file(cls, d, where: str, clip: str | None = None) -> "EnvSpec":
        """From a checkpoint or dataset: validated (awr_mimic.learning.untrusted), refused in one line.

        `clip`: the user's clip (a name or path from the command line), which replaces the stored one."""
        from awr_mimic.learning.untrusted import env_spec_from_file

        return env_spec_from_file(d, where, clip=clip)

    @classmethod
    def coerce(cls, env: "str | EnvSpec", env_kwargs: dict | None = None) -> "EnvSpec":
        if isinstance(env, EnvSpec):
            return env if not env_kwargs else cls(env.id, {**env.kwargs, **env_kwargs}, env.clip_origin)
        if isinstance(env, str):
            return cls(env, dict(env_kwargs or {}))
        raise ConfigError(f"env must be a gymnasium id or an EnvSpec, got {type(env).__name__}")

    def __str__(self) -> str:
        opts = ", ".join(f"{k}={show(v)}" for k, v in self.kwargs.items())
        return f"{self.id}({opts})" if opts else self.id
