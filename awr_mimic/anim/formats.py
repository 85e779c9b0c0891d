"""Clip file formats: reading (with format detection) and writing.

* ``deepmimic``: JSON ``{"Loop": "wrap"|"none", "Frames": [[dt, pose...], ...]}``.
  The pose columns follow the character's :class:`PoseLayout`: root position,
  root quaternion in the layout's ``quat_order``, then a quaternion per
  spherical joint and an angle per revolute joint. The layout may map file
  angles to URDF angles (``angle_sign``/``angle_offset``; pybullet_data's
  ``laikago_walk.txt`` needs it) and say whether the root columns place the
  base link frame or the base's centre of mass (``root_frame``).
* ``motion_imitation`` (google-research/motion_imitation, Apache-2.0):
  JSON ``{"LoopMode": "Wrap"|"Clamp", "FrameDuration": dt,
  "EnableCycleOffsetPosition": bool, "EnableCycleOffsetRotation": bool,
  "Frames": [[pose...], ...]}``; each frame is the base position (pybullet's
  base position, i.e. its centre of mass), the base quaternion (x, y, z, w)
  and the URDF joint angles, z up. No per-joint sign or offset applies.

The format of a file is detected from its content (``LoopMode`` or
``FrameDuration`` means motion_imitation); the character's ``clips.format`` is
only a fallback for files that carry neither marker.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from awr_mimic.anim import quat
from awr_mimic.anim.clip import Clip, PoseLayout, _fail, clip_from_array, frames_array, load_json
from awr_mimic.anim.skeleton import SPHERICAL
from awr_mimic.errors import show

FORMATS = ("deepmimic", "motion_imitation")
_MI_LOOP = {"wrap": "wrap", "clamp": "none"}


def detect_format(data: dict, default: str = "deepmimic") -> str:
    if "LoopMode" in data or "FrameDuration" in data:
        return "motion_imitation"
    if "Loop" in data:
        return "deepmimic"
    return default


def read_clip(path: str | Path, layout: PoseLayout, name: str | None = None, character: str = "character",
              default_format: str = "deepmimic") -> Clip:
    """Read a clip in any supported format, validated against `layout`."""
    path = Path(path)
    data = load_json(path)
    if "Frames" not in data:
        raise _fail(path, "missing the 'Frames' list")
    fmt = detect_format(data, default_format)
    name = name or path.stem
    if fmt == "deepmimic":
        loop = data.get("Loop", "wrap")
        frames = frames_array(path, data["Frames"], layout.num_columns + 1, character)
        return clip_from_array(path, name, loop, frames, layout)
    return _read_motion_imitation(path, data, layout, name, character)


def motion_imitation_layout(layout: PoseLayout) -> PoseLayout:
    """The layout of a motion_imitation file for a character with `layout`."""
    return dataclasses.replace(layout, quat_order="xyzw", angle_sign=None, angle_offset=None, root_frame="inertial")


def _read_motion_imitation(path: Path, data: dict, layout: PoseLayout, name: str, character: str) -> Clip:
    mode = str(data.get("LoopMode", "Wrap")).lower()
    if mode not in _MI_LOOP:
        raise _fail(path, f"'LoopMode' must be Wrap or Clamp, got {data.get('LoopMode')!r}")
    dt = data.get("FrameDuration")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not dt > 0:
        raise _fail(path, f"'FrameDuration' must be a positive number, got {show(dt)}")
    mi_layout = motion_imitation_layout(layout)
    frames = data["Frames"]
    # the same validation as DeepMimic rows, without the duration column
    rows = frames_array(path, [[dt] + list(r) if isinstance(r, list) else r for r in frames],
                        mi_layout.num_columns + 1, character) if isinstance(frames, list) else None
    if rows is None:
        raise _fail(path, "'Frames' must be a list of at least 2 frames")
    clip = clip_from_array(path, name, _MI_LOOP[mode], rows, mi_layout)
    if not data.get("EnableCycleOffsetPosition", True):
        clip.cycle_offset = np.zeros(3)
    # EnableCycleOffsetRotation: the env re-fits the reference heading to the
    # character at every cycle, which carries the heading over either way.
    return clip


# ---------------------------------------------------------------- writing


def clip_rows(clip: Clip, layout: PoseLayout) -> np.ndarray:
    """(F, 1 + pose columns) rows of `clip` in `layout`'s file conventions."""
    root_pos = clip.root_pos
    if layout.root_frame == "inertial" and any(layout.base_inertial_pos):
        root_pos = root_pos + quat.rotate(clip.root_quat, np.asarray(layout.base_inertial_pos, dtype=np.float64))
    angles = clip.joint_angles
    if layout.angle_offset is not None:
        angles = angles - np.asarray(layout.angle_offset, dtype=np.float64)
    if layout.angle_sign is not None:
        angles = angles / np.asarray(layout.angle_sign, dtype=np.float64)

    def order(q):
        return q if layout.quat_order == "xyzw" else q[..., [3, 0, 1, 2]]

    cols = [clip.frame_durations[:, None], root_pos, order(clip.root_quat)]
    si = ri = 0
    for _, joint_type, _ in layout.joints:
        if joint_type == SPHERICAL:
            cols.append(order(clip.joint_quats[:, si]))
            si += 1
        else:
            cols.append(angles[:, ri : ri + 1])
            ri += 1
    return np.concatenate(cols, axis=1)


def _format_rows(rows: np.ndarray, digits: int) -> str:
    return ",\n".join("  [" + ", ".join(f"{v:.{digits}f}".rstrip("0").rstrip(".") if v else "0" for v in r) + "]"
                      for r in rows)


def write_clip(clip: Clip, path: str | Path, layout: PoseLayout, fmt: str = "deepmimic", digits: int = 6,
               header: dict | None = None) -> Path:
    """Write `clip` as a `fmt` file for a character with `layout`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown clip format {fmt!r}; known: {', '.join(FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = dict(header or {})
    if fmt == "deepmimic":
        rows = clip_rows(clip, layout)
        head["Loop"] = clip.loop
    else:
        rows = clip_rows(clip, motion_imitation_layout(layout))[:, 1:]
        head.update(
            LoopMode="Wrap" if clip.loop == "wrap" else "Clamp",
            FrameDuration=float(np.median(clip.frame_durations[:-1])),
            EnableCycleOffsetPosition=bool(np.any(clip.cycle_offset)),
            EnableCycleOffsetRotation=False,
        )
    lines = ["{"] + [f"{json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    lines += ['"Frames": [', _format_rows(rows, digits), "]", "}"]
    path.write_text("\n".join(lines) + "\n")
    return path
