"""Motion clips: reading, validation and sampling at any time.

A clip is a sequence of key frames of a character's pose: the root position,
the root rotation, one quaternion per spherical joint and one angle per
revolute joint. Quaternions are stored scalar-last (x, y, z, w), normalised and
sign-continuous. Between key frames, positions and angles are interpolated
linearly and rotations by slerp; the velocities reported are exactly the ones
of that interpolation (constant within a frame interval).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from awr_mimic.anim import quat
from awr_mimic.anim.skeleton import REVOLUTE, SPHERICAL, Skeleton
from awr_mimic.errors import ClipError, show

LOOP_MODES = ("wrap", "none")


@dataclass(frozen=True)
class PoseLayout:
    """How a character's pose is laid out in the columns of a clip frame.

    joints lists (link index, type, name) in column order; a spherical joint has
    4 columns (a quaternion), a revolute joint one (an angle).
    """

    joints: tuple[tuple[int, str, str], ...]
    up_axis: int = 1  # 1: y up (DeepMimic), 2: z up
    quat_order: str = "wxyz"  # order of quaternion columns in the file
    # file angle -> URDF angle = sign * value + offset, per revolute joint in column
    # order (pybullet's laikago_walk uses its own zero pose and directions)
    angle_sign: tuple[float, ...] | None = None
    angle_offset: tuple[float, ...] | None = None
    # "link": the root columns place the URDF base link frame (DeepMimic);
    # "inertial": they place the base's centre of mass, as pybullet's
    # resetBasePositionAndOrientation does (Laikago clips); base_inertial_pos is
    # that centre in the base link frame
    root_frame: str = "link"
    base_inertial_pos: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def spherical(self) -> list[int]:
        return [i for i, t, _ in self.joints if t == SPHERICAL]

    @property
    def revolute(self) -> list[int]:
        return [i for i, t, _ in self.joints if t == REVOLUTE]

    @property
    def num_columns(self) -> int:
        """Pose columns, without the frame duration: root pos, root quat, joints."""
        return 7 + sum(4 if t == SPHERICAL else 1 for _, t, _ in self.joints)

    @property
    def action_size(self) -> int:
        return sum(3 if t == SPHERICAL else 1 for _, t, _ in self.joints)


@dataclass
class ClipSample:
    """A clip sampled at one or many times (leading batch dimensions)."""

    phase: np.ndarray  # in [0, 1]
    cycle: np.ndarray  # completed loop cycles
    root_pos: np.ndarray  # (..., 3)
    root_quat: np.ndarray  # (..., 4)
    joint_quats: np.ndarray  # (..., S, 4) spherical joints, local
    joint_angles: np.ndarray  # (..., R) revolute joints
    root_vel: np.ndarray  # (..., 3) world
    root_ang_vel: np.ndarray  # (..., 3) world
    joint_ang_vels: np.ndarray  # (..., S, 3) local (child) frame, as pybullet reports them
    joint_angle_vels: np.ndarray  # (..., R)


@dataclass
class Clip:
    name: str
    source: str
    loop: str
    layout: PoseLayout
    frame_durations: np.ndarray  # (F,), the last one unused
    root_pos: np.ndarray  # (F, 3)
    root_quat: np.ndarray  # (F, 4)
    joint_quats: np.ndarray  # (F, S, 4)
    joint_angles: np.ndarray  # (F, R)
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.frame_times = np.concatenate([[0.0], np.cumsum(self.frame_durations[:-1])])
        dt = self.frame_durations[:-1]
        # velocities of each frame interval, consistent with lerp / slerp
        self._root_vel = np.diff(self.root_pos, axis=0) / dt[:, None]
        self._root_ang_vel = quat.angular_velocity(self.root_quat[:-1], self.root_quat[1:], dt, local=False)
        self._joint_ang_vels = quat.angular_velocity(
            self.joint_quats[:-1], self.joint_quats[1:], dt[:, None], local=True
        )
        self._joint_angle_vels = np.diff(self.joint_angles, axis=0) / dt[:, None]
        offset = self.root_pos[-1] - self.root_pos[0]
        offset[self.layout.up_axis] = 0.0  # loops move the character along the ground only
        self.cycle_offset = offset if self.loop == "wrap" else np.zeros(3)

    @property
    def num_frames(self) -> int:
        return len(self.frame_durations)

    @property
    def duration(self) -> float:
        return float(self.frame_times[-1])

    @property
    def fps(self) -> float:
        return float(1.0 / np.median(self.frame_durations[:-1]))

    def locate(self, t):
        """Frame interval, blend weight, phase and cycle count of times t."""
        t = np.asarray(t, dtype=np.float64)
        if self.loop == "wrap":
            cycle = np.floor(t / self.duration)
            local_t = t - cycle * self.duration
        else:
            cycle = np.zeros_like(t)
            local_t = np.clip(t, 0.0, self.duration)
        k = np.clip(np.searchsorted(self.frame_times, local_t, side="right") - 1, 0, self.num_frames - 2)
        alpha = np.clip((local_t - self.frame_times[k]) / self.frame_durations[k], 0.0, 1.0)
        return k, alpha, local_t / self.duration, cycle

    def sample(self, t) -> ClipSample:
        """The pose and velocities at time(s) t (seconds from the clip start)."""
        k, alpha, phase, cycle = self.locate(t)
        a = alpha[..., None]
        tt = np.asarray(t, dtype=np.float64)
        if self.loop == "none":
            # a clamped clip stands still before its start and after its end
            moving = ((tt >= 0.0) & (tt <= self.duration)).astype(np.float64)[..., None]
        else:
            moving = np.ones(tt.shape + (1,))
        root_pos = (1 - a) * self.root_pos[k] + a * self.root_pos[k + 1] + cycle[..., None] * self.cycle_offset
        return ClipSample(
            phase=phase,
            cycle=cycle,
            root_pos=root_pos,
            root_quat=quat.slerp(self.root_quat[k], self.root_quat[k + 1], alpha),
            joint_quats=quat.slerp(self.joint_quats[k], self.joint_quats[k + 1], alpha[..., None]),
            joint_angles=(1 - a) * self.joint_angles[k] + a * self.joint_angles[k + 1],
            root_vel=self._root_vel[k] * moving,
            root_ang_vel=self._root_ang_vel[k] * moving,
            joint_ang_vels=self._joint_ang_vels[k] * moving[..., None],
            joint_angle_vels=self._joint_angle_vels[k] * moving,
        )

    def local_rotations(self, skeleton: Skeleton, joint_quats, joint_angles) -> np.ndarray:
        """Per-link local joint rotations (..., L, 4) for forward kinematics."""
        batch = np.shape(joint_angles)[:-1]
        rots = np.broadcast_to(quat.IDENTITY, batch + (skeleton.num_links, 4)).copy()
        rots[..., self.layout.spherical, :] = joint_quats
        rev = self.layout.revolute
        rots[..., rev, :] = quat.from_axis_angle(skeleton.joint_axes[rev], joint_angles)
        return rots

    def frame_sample(self) -> ClipSample:
        """All key frames (velocities are those of the interval that starts there)."""
        return self.sample(self.frame_times)


# ---------------------------------------------------------------- reading


def _fail(path, message: str) -> ClipError:
    return ClipError(f"{path}: {message}")


def load_json(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise _fail(path, "expected a JSON object with 'Loop' and 'Frames'")
    return data


def frames_array(path, frames, expected_columns: int, character: str) -> np.ndarray:
    """Validate the frame rows' shape and numbers; returns an (F, C) float array."""
    if not isinstance(frames, list) or len(frames) < 2:
        raise _fail(path, "'Frames' must be a list of at least 2 frames")
    for i, row in enumerate(frames):
        if not isinstance(row, list):
            raise _fail(path, f"frame {i} is not a list of numbers")
        if len(row) != expected_columns:
            raise _fail(
                path,
                f"frame {i} has {len(row)} numbers; the {character} expects {expected_columns} "
                f"(frame duration + {expected_columns - 1} pose numbers)",
            )
        for j, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _fail(path, f"frame {i}, column {j} is not a number: {show(value)}")
            if not math.isfinite(value):
                raise _fail(path, f"frame {i}, column {j} is not finite: {show(value)}")
    return np.asarray(frames, dtype=np.float64)


def _take_quats(path, values: np.ndarray, order: str, what: str) -> np.ndarray:
    """(F, 4) quaternion columns in `order` -> normalised, continuous (x, y, z, w)."""
    q = values if order == "xyzw" else values[:, [1, 2, 3, 0]]
    norms = np.linalg.norm(q, axis=1)
    bad = np.flatnonzero(norms < 1e-8)
    if len(bad):
        raise _fail(path, f"frame {bad[0]}: the {what} quaternion has zero norm")
    return quat.make_continuous(q / norms[:, None])


def clip_from_array(path, name: str, loop: str, data: np.ndarray, layout: PoseLayout) -> Clip:
    """Build a clip from validated (F, 1 + pose columns) rows in the layout's column order."""
    if loop not in LOOP_MODES:
        raise _fail(path, f"'Loop' must be one of {', '.join(LOOP_MODES)}, got {loop!r}")
    durations = data[:, 0].copy()
    bad = np.flatnonzero(durations[:-1] <= 0.0)
    if len(bad):
        raise _fail(path, f"frame {bad[0]} has a non-positive duration {show(durations[bad[0]])}")
    root_pos = data[:, 1:4]
    root_quat = _take_quats(path, data[:, 4:8], layout.quat_order, "root")
    if layout.root_frame == "inertial" and any(layout.base_inertial_pos):
        root_pos = root_pos - quat.rotate(root_quat, np.asarray(layout.base_inertial_pos, dtype=np.float64))
    col = 8
    sph, rev = [], []
    for _, joint_type, joint_name in layout.joints:
        if joint_type == SPHERICAL:
            sph.append(_take_quats(path, data[:, col : col + 4], layout.quat_order, f"{joint_name!r} joint"))
            col += 4
        else:
            rev.append(data[:, col])
            col += 1
    num_frames = len(data)
    joint_quats = np.stack(sph, axis=1) if sph else np.zeros((num_frames, 0, 4))
    joint_angles = np.stack(rev, axis=1) if rev else np.zeros((num_frames, 0))
    if layout.angle_sign is not None:
        joint_angles = joint_angles * np.asarray(layout.angle_sign, dtype=np.float64)
    if layout.angle_offset is not None:
        joint_angles = joint_angles + np.asarray(layout.angle_offset, dtype=np.float64)
    return Clip(
        name=name,
        source=str(path),
        loop=loop,
        layout=layout,
        frame_durations=durations,
        root_pos=root_pos.copy(),
        root_quat=root_quat,
        joint_quats=joint_quats,
        joint_angles=joint_angles,
    )


def load_deepmimic_clip(path: str | Path, layout: PoseLayout, name: str | None = None, character: str = "character") -> Clip:
    """Read a DeepMimic clip: JSON {"Loop": "wrap"|"none", "Frames": [[dt, pose...], ...]}."""
    path = Path(path)
    data = load_json(path)
    if "Frames" not in data:
        raise _fail(path, "missing the 'Frames' list")
    loop = data.get("Loop", "wrap")
    frames = frames_array(path, data["Frames"], layout.num_columns + 1, character)
    return clip_from_array(path, name or path.stem, loop, frames, layout)
