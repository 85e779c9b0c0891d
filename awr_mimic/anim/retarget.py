"""Retarget a clip from one character to another: keypoints, then inverse kinematics.

1. Forward kinematics of the source clip gives keypoints (feet, hips or
   shoulders, and the root) in the source's world.
2. A constant rotation maps the source's world onto the target's (up axis to up
   axis, the source's heading at the first frame onto the target's forward
   axis), and lengths are multiplied by ``scale``.
3. Per frame, a least-squares IK over the target's root pose and every joint
   (an exponential map per spherical joint, an angle per revolute joint) fits:
   * each keypoint pair's target point, *relative to its anchor* horizontally
     (so a foot's stride is measured from its own hip, whatever the body
     length), and absolutely in height, measured from the source point's
     lowest height over the clip (so stance feet land on the ground);
   * the root's heading and tilt, and its horizontal path;
   * regularisation towards the rest pose and towards the previous frame's
     solution (which also seeds the next frame: continuity).
4. The clip is put on the ground: a constant height shift makes the body's
   lowest point over the clip touch it.

Everything character-specific lives in a map file (TOML)::

    source = "laikago"              # character names or TOML paths
    target = "dog"
    scale = 1.2                     # target length / source length
    source_forward = [0, 0, 1]      # forward and up axes of each root link
    source_up = [0, 1, 0]
    target_forward = [1, 0, 0]
    target_up = [0, 1, 0]
    rest_weight = 0.05              # pull towards the rest pose (all joints zero)
    previous_weight = 0.05          # pull towards the previous frame's solution
    root_rotation_weight = 3.0

    [[pairs]]
    source = "toeFR"                # link frames; optional source_offset/target_offset
    target = "right_finger"         # points in those link frames
    source_anchor = "FR_upper_leg"  # optional: fit horizontally relative to these
    target_anchor = "right_shoulder"
    target_offset = [0.012, -0.04, 0]
    weight = 1.0
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from awr_mimic.anim import quat
from awr_mimic.anim.clip import Clip
from awr_mimic.errors import AwrMimicError, show

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class Pair:
    source: str
    target: str
    source_anchor: str | None = None
    target_anchor: str | None = None
    source_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    target_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    weight: float = 1.0


@dataclass
class RetargetMap:
    source: str
    target: str
    pairs: list[Pair]
    scale: float = 1.0
    source_forward: np.ndarray = field(default_factory=lambda: np.array([1.0, 0, 0]))
    source_up: np.ndarray | None = None
    target_forward: np.ndarray = field(default_factory=lambda: np.array([1.0, 0, 0]))
    target_up: np.ndarray | None = None
    rest_weight: float = 0.05
    previous_weight: float = 0.05
    root_rotation_weight: float = 3.0
    root_path_weight: float = 0.5


def _vec3(value, where: str) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AwrMimicError(f"{where}: expected 3 numbers, got {show(value)}") from None
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise AwrMimicError(f"{where}: expected 3 numbers, got {show(value)}")
    return v


def load_map(path: str | Path) -> RetargetMap:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise AwrMimicError(f"{path}: no such retarget map") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AwrMimicError(f"{path}: cannot read retarget map: {exc}") from None
    try:
        pairs = [
            Pair(
                source=p["source"],
                target=p["target"],
                source_anchor=p.get("source_anchor"),
                target_anchor=p.get("target_anchor"),
                source_offset=_vec3(p.get("source_offset", [0, 0, 0]), f"{path}: pairs[{i}].source_offset"),
                target_offset=_vec3(p.get("target_offset", [0, 0, 0]), f"{path}: pairs[{i}].target_offset"),
                weight=float(p.get("weight", 1.0)),
            )
            for i, p in enumerate(data.get("pairs", []))
        ]
        if not pairs:
            raise AwrMimicError(f"{path}: no [[pairs]] of keypoints")
        opt = {}
        for key in ("source_forward", "source_up", "target_forward", "target_up"):
            if key in data:
                opt[key] = _vec3(data[key], f"{path}: {key}")
        for key in ("scale", "rest_weight", "previous_weight", "root_rotation_weight", "root_path_weight"):
            if key in data:
                opt[key] = float(data[key])
        return RetargetMap(source=str(data.get("source", "")), target=str(data.get("target", "")), pairs=pairs, **opt)
    except KeyError as exc:
        raise AwrMimicError(f"{path}: a pair is missing {exc.args[0]!r}") from None


def _axes(forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rows: unit forward, up, and forward x up (a right-handed body basis)."""
    f = forward / np.linalg.norm(forward)
    u = up - f * (up @ f)
    u = u / np.linalg.norm(u)
    return np.stack([f, u, np.cross(f, u)])


def _rotvec_to_quat(r: np.ndarray) -> np.ndarray:
    return quat.from_expmap(r)


def _matrix_to_quat(m: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(m).as_quat()


@dataclass
class _Problem:
    """The target's variables: root position (3), root rotation vector (3), joints."""

    character: object
    layout: object

    def __post_init__(self):
        self.skeleton = self.character.skeleton
        self.sph = np.array([t == "spherical" for _, t, _ in self.layout.joints])
        self.sizes = np.where(self.sph, 3, 1)
        self.num = 6 + int(self.sizes.sum())
        self.sph_cols = np.concatenate([6 + np.arange(s, s + 3) for s, sp in zip(np.cumsum(self.sizes) - self.sizes, self.sph) if sp]) if self.sph.any() else np.zeros(0, int)
        self.rev_cols = np.array([6 + s for s, sp in zip(np.cumsum(self.sizes) - self.sizes, self.sph) if not sp], dtype=int)
        rev_links = [i for (i, t, _) in self.layout.joints if t != "spherical"]
        self.rev_limits = self.skeleton.joint_limits[rev_links] if rev_links else np.zeros((0, 2))

    def decode(self, x: np.ndarray):
        """x (..., n) -> root_pos, root_quat, joint_quats (..., S, 4), joint_angles (..., R)."""
        root_pos = x[..., 0:3]
        root_quat = _rotvec_to_quat(x[..., 3:6])
        jq = _rotvec_to_quat(x[..., self.sph_cols].reshape(x.shape[:-1] + (-1, 3)))
        ja = x[..., self.rev_cols]
        return root_pos, root_quat, jq, ja

    def fk(self, x: np.ndarray):
        root_pos, root_quat, jq, ja = self.decode(x)
        rots = np.broadcast_to(quat.IDENTITY, x.shape[:-1] + (self.skeleton.num_links, 4)).copy()
        rots[..., self.layout.spherical, :] = jq
        rev = self.layout.revolute
        rots[..., rev, :] = quat.from_axis_angle(self.skeleton.joint_axes[rev], ja)
        return self.skeleton.forward_kinematics(root_pos, root_quat, rots)


def _points(fk, links: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """World positions of points given in link frames (-1: the root link frame is not supported)."""
    return fk.frame_pos[..., links, :] + quat.rotate(fk.frame_quat[..., links, :], offsets)


def retarget(source_character, source_clip: Clip, target_character, mapping: RetargetMap,
             name: str = "retargeted", progress=None) -> Clip:
    """Retarget `source_clip` (of `source_character`) onto `target_character`."""
    src_sk = source_character.skeleton
    up_s, up_t = source_character.up_axis, target_character.up_axis
    src_up = quat.axis_vector(up_s)  # world up vectors
    tgt_up = quat.axis_vector(up_t)
    # the root links' own forward and up axes (default: up = the world's up axis)
    src_body = _axes(mapping.source_forward, mapping.source_up if mapping.source_up is not None else src_up)
    tgt_body = _axes(mapping.target_forward, mapping.target_up if mapping.target_up is not None else tgt_up)

    def idx(character, name_):
        names = character.skeleton.link_names
        if name_ not in names:
            raise AwrMimicError(f"retarget map: {character.name} has no link {name_!r}")
        return names.index(name_)

    pairs = mapping.pairs
    s_links = np.array([idx(source_character, p.source) for p in pairs])
    t_links = np.array([idx(target_character, p.target) for p in pairs])
    s_off = np.stack([p.source_offset for p in pairs])
    t_off = np.stack([p.target_offset for p in pairs])
    anchored = np.array([p.source_anchor is not None and p.target_anchor is not None for p in pairs])
    s_anchor = np.array([idx(source_character, p.source_anchor) if a else 0 for p, a in zip(pairs, anchored)])
    t_anchor = np.array([idx(target_character, p.target_anchor) if a else 0 for p, a in zip(pairs, anchored)])
    weights = np.array([p.weight for p in pairs])

    # --- source keypoints, in the source world
    frames = source_clip.frame_sample()
    fk_s = src_sk.forward_kinematics(frames.root_pos, frames.root_quat,
                                     source_clip.local_rotations(src_sk, frames.joint_quats, frames.joint_angles))
    sp = _points(fk_s, s_links, s_off)  # (F, P, 3)
    sa = fk_s.frame_pos[:, s_anchor]  # (F, P, 3)

    # --- world map: source up -> target up, the source's first heading -> target forward
    fwd0 = quat.rotate(frames.root_quat[0], mapping.source_forward)
    fwd0 = fwd0 - src_up * (fwd0 @ src_up)
    world_s = _axes(fwd0, src_up)  # rows in source world coords
    world_t = _axes(_horizontal_forward(tgt_body[0], tgt_up), tgt_up)
    M = world_t.T @ world_s  # source world vector -> target world vector
    C = src_body.T @ tgt_body  # target root-link axes -> source root-link axes
    s = mapping.scale

    src_h = sp @ src_up  # (F, P) heights
    src_h_rel = src_h - src_h.min(axis=0, keepdims=True)
    rel = (sp - sa) @ M.T * s  # anchored offsets, target world
    absolute = (sp - frames.root_pos[:, None, :]) @ M.T * s  # root-relative, for unanchored pairs
    root_goal = frames.root_pos @ M.T * s
    root_rot_goal = []
    for q in frames.root_quat:
        R = _quat_matrix(q)
        root_rot_goal.append(M @ R @ C)
    root_rot_goal = np.stack(root_rot_goal)

    problem = _Problem(target_character, target_character.layout)
    n = problem.num
    horiz = np.eye(3) - np.outer(tgt_up, tgt_up)

    # initial guess: rest pose at the goal root with a height that puts the rest pose's feet on the ground
    x = np.zeros(n)
    x[0:3] = root_goal[0]
    x[3:6] = _matrix_to_rotvec(root_rot_goal[0])
    rest_fk = problem.fk(x)
    feet0 = _points(rest_fk, t_links, t_off) @ tgt_up
    x[0:3] += tgt_up * (-feet0.min())
    x_prev = x.copy()
    rest = np.zeros(n)
    w_sqrt = np.sqrt(weights)[:, None]
    limits = problem.rev_limits

    out = []
    F = len(frames.root_pos)
    for f in range(F):
        goal_rel, goal_abs, goal_h = rel[f], absolute[f], src_h_rel[f] * s
        R_goal = root_rot_goal[f]
        path_goal = root_goal[f] @ horiz.T

        def residuals(xb):
            fk = problem.fk(xb)
            pts = _points(fk, t_links, t_off)  # (..., P, 3)
            root_pos = xb[..., 0:3]
            anchor = fk.frame_pos[..., t_anchor, :]
            base = np.where(anchored[:, None], anchor, root_pos[..., None, :])
            want = np.where(anchored[:, None], goal_rel, goal_abs)
            d = (pts - base - want) @ horiz.T  # horizontal, relative
            h = pts @ tgt_up - goal_h  # height, absolute
            r_pts = np.concatenate([d * w_sqrt, (h * np.sqrt(weights))[..., None]], axis=-1).reshape(xb.shape[:-1] + (-1,))
            Rq = _rotvec_to_quat(xb[..., 3:6])
            rot_err = _rot_error(Rq, R_goal) * mapping.root_rotation_weight
            path = ((root_pos @ horiz.T) - path_goal) * mapping.root_path_weight
            joints = xb[..., 6:]
            reg = np.concatenate([(joints - rest[6:]) * mapping.rest_weight,
                                  (xb - x_prev) * mapping.previous_weight], axis=-1)
            # soft revolute limits
            ang = xb[..., problem.rev_cols]
            lim = (np.maximum(limits[:, 0] - ang, 0) + np.maximum(ang - limits[:, 1], 0)) * 10.0
            return np.concatenate([r_pts, rot_err, path, reg, lim], axis=-1)

        def jacobian(xv):
            eps = 1e-6
            xb = np.vstack([xv, xv + eps * np.eye(n)])
            r = residuals(xb)
            return ((r[1:] - r[0]) / eps).T

        sol = least_squares(lambda xv: residuals(xv), x, jac=jacobian, method="trf", xtol=1e-8, ftol=1e-8, max_nfev=60)
        x = sol.x
        out.append(x.copy())
        x_prev = x.copy()
        if progress:
            progress(f + 1, F, float(np.sqrt(np.mean(sol.fun[: len(pairs) * 4] ** 2))))
    X = np.stack(out)
    root_pos, root_quat, jq, ja = problem.decode(X)

    # put the clip on the ground: its lowest point over the whole clip touches it
    from awr_mimic.anim.shapes import character_shapes, lowest_points

    fk = problem.fk(X)
    sk = target_character.skeleton
    base_pos = root_pos + quat.rotate(root_quat, sk.base_inertial_pos)
    base_quat = quat.multiply(root_quat, sk.base_inertial_quat)
    low = lowest_points(character_shapes(target_character), fk, base_pos, base_quat, up_t)
    root_pos = root_pos - tgt_up * np.median(low)

    return Clip(
        name=name,
        source=f"retargeted from {source_clip.source}",
        loop=source_clip.loop,
        layout=target_character.layout,
        frame_durations=source_clip.frame_durations.copy(),
        root_pos=root_pos,
        root_quat=quat.make_continuous(root_quat),
        joint_quats=quat.make_continuous(jq),
        joint_angles=ja,
    )


def _horizontal_forward(forward, up):
    f = np.asarray(forward, dtype=np.float64)
    return f - up * (f @ up)


def _quat_matrix(q) -> np.ndarray:
    return quat.matrix(q)


def _matrix_to_rotvec(m) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(m).as_rotvec()


def _rot_error(q: np.ndarray, R_goal: np.ndarray) -> np.ndarray:
    """Rotation-vector-like error between quaternions q (..., 4) and a goal matrix: the
    difference of the rotated basis vectors (smooth, 9 numbers)."""
    axes = np.eye(3)
    got = quat.rotate(q[..., None, :], axes)  # (..., 3, 3): rows are rotated basis vectors
    want = R_goal.T  # rows: goal's rotated basis vectors
    return (got - want).reshape(q.shape[:-1] + (9,))
