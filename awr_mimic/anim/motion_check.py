"""What to fix in a clip before training on it.

:func:`check_clip` looks at a clip's key frames with the character's forward
kinematics and collision shapes (no physics) and reports:

* **foot skating**: a point of a foot's collision shape that stays within
  ``contact_height`` of the ground for ``min_contact`` seconds or more (joined
  across the loop of a ``wrap`` clip) and moves horizontally at a median speed
  above ``skate_speed`` over that time (a planted foot should not slide; the
  median ignores a heel gliding in to land or a toe pushing off);
* **ground penetration**: the body's lowest point more than ``penetration``
  below the ground;
* **floating**: the body never comes within ``float_height`` of the ground;
* **joint limits**: a knee or elbow (any revolute joint) beyond its URDF limits,
  which pybullet enforces, so the simulated character can never reach the pose;
* **frame timing**: frames whose duration differs from the clip's median by
  more than ``timing_tolerance`` (missing frames or a non-uniform rate);
* **pose jump**: the root or a joint turning faster than ``jump_speed`` rad/s
  between two frames, and ``jump_ratio`` times faster than the median of the
  two intervals either side (a glitch in the data, not a fast move). RSI inside the jump
  starts the character with that speed, and tracking asks for the jump.

Each problem names the links or joints, the frames and the worst value.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from awr_mimic.anim import quat
from awr_mimic.anim.bvh_retarget import _shapes, foot_links, pose_fk
from awr_mimic.anim.clip import Clip
from awr_mimic.anim.skeleton import REVOLUTE


@dataclass
class Problem:
    kind: str  # foot skating | ground penetration | floating | joint limit | frame timing | pose jump
    message: str  # one line for the user
    frames: np.ndarray  # key frames concerned
    worst: float  # in the unit of the message's measure (m/s, m, rad, s)

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def frame_ranges(frames) -> str:
    """'3-5, 9, 12-13' for [3, 4, 5, 9, 12, 13] (the first 8 runs)."""
    frames = sorted(int(f) for f in frames)
    runs: list[list[int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:8])
    return text + (f" and {len(runs) - 8} more" if len(runs) > 8 else "")


def _contact_runs(low: np.ndarray, wrap: bool) -> list[list[int]]:
    """Runs of consecutive frames where `low` holds; a looping clip joins its last run to its first."""
    edges = np.diff(np.r_[0, low.astype(np.int8), 0])
    runs = [list(range(a, b)) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]
    if wrap and len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == len(low) - 1:
        runs[0] = runs.pop() + runs[0]  # the last frame is the next cycle's first: one contact
    return runs


def _shape_points(character, fk, base_pos, base_quat, links=None):
    """World support points (F, P, 3), their radii (P,) and links (P,) of the character's shapes."""
    pts, radii, owners = [], [], []
    for s in _shapes(character):
        if links is not None and s.link not in links:
            continue
        if s.link < 0:
            frame_pos, frame_quat = base_pos, base_quat
        else:
            frame_pos, frame_quat = fk.com_pos[:, s.link], fk.com_quat[:, s.link]
        shape_pos = frame_pos + quat.rotate(frame_quat, s.pos)
        shape_quat = quat.multiply(frame_quat, s.quat)
        pts.append(shape_pos[:, None, :] + quat.rotate(shape_quat[:, None, :], s.points))
        radii += [s.radius] * len(s.points)
        owners += [s.link] * len(s.points)
    return np.concatenate(pts, axis=1), np.array(radii), np.array(owners)


def check_clip(character, clip: Clip, *, contact_height: float = 0.02, skate_speed: float = 0.3,
               min_contact: float = 0.1, penetration: float = 0.01, float_height: float = 0.05,
               limit_tolerance: float = 1e-3, timing_tolerance: float = 0.05,
               jump_speed: float = 10.0, jump_ratio: float = 5.0) -> list[Problem]:
    """Problems of `clip` for `character`; an empty list means clean."""
    sk = character.skeleton
    up = character.up_axis
    horizontal = [a for a in range(3) if a != up]
    names = ["base"] + list(sk.link_names)  # index link + 1
    problems: list[Problem] = []
    fk, base_pos, base_quat = pose_fk(character, clip)
    dt = clip.frame_durations[:-1]

    # ---- ground: the lowest point of each frame, and which link it belongs to
    pts, radii, owners = _shape_points(character, fk, base_pos, base_quat)
    heights = pts[..., up] - radii  # (F, P)
    lowest = heights.min(axis=1)
    below = np.flatnonzero(lowest < -penetration)
    if len(below):
        worst = int(below[np.argmin(lowest[below])])
        link = names[owners[np.argmin(heights[worst])] + 1]
        problems.append(Problem(
            "ground penetration",
            f"the body goes up to {-lowest[worst] * 100:.1f} cm below the ground ({link} at frame {worst}); "
            f"frames {frame_ranges(below)} are more than {penetration * 100:g} cm under it",
            below, float(-lowest[worst])))
    if lowest.min() > float_height:
        problems.append(Problem(
            "floating", f"the body never touches the ground: its lowest point is {lowest.min() * 100:.1f} cm "
                        f"above it (frame {int(np.argmin(lowest))})", np.arange(clip.num_frames), float(lowest.min())))

    # ---- foot skating: a foot point that stays on the ground for a while, yet slides
    feet = foot_links(character)
    fpts, fradii, fowners = _shape_points(character, fk, base_pos, base_quat, set(feet))
    low = (fpts[..., up] - fradii) < contact_height  # (F, P)
    speed = np.linalg.norm(np.diff(fpts[..., horizontal], axis=0), axis=-1) / dt[:, None]  # (F-1, P)
    sliding: dict[int, tuple[set, float]] = {}
    for point in range(low.shape[1]):
        for run in _contact_runs(low[:, point], clip.loop == "wrap"):
            steps = [k for k in run[:-1] if k + 1 < clip.num_frames and k + 1 in run]  # intervals inside
            if not steps or dt[steps].sum() < min_contact:
                continue
            # the median ignores touch-down and lift-off, when a foot still moves near the ground
            typical = float(np.median(speed[steps, point]))
            if typical > skate_speed:
                frames, worst = sliding.get(int(fowners[point]), (set(), 0.0))
                sliding[int(fowners[point])] = (frames | set(run), max(worst, typical))
    for link in feet:
        if link in sliding:
            frames, worst = sliding[link]
            problems.append(Problem(
                "foot skating",
                f"{names[link + 1]} slides at {worst:.2f} m/s (median) while on the ground, frames "
                f"{frame_ranges(frames)} (more than {skate_speed:g} m/s within {contact_height * 100:g} cm of it "
                f"for {min_contact:g} s or longer)",
                np.array(sorted(frames)), worst))

    # ---- joint limits of revolute joints (pybullet enforces them)
    for column, link in enumerate(clip.layout.revolute):
        if sk.joint_types[link] != REVOLUTE:
            continue
        lower, upper = sk.joint_limits[link]
        if lower > upper:
            continue  # no limits
        angle = clip.joint_angles[:, column]
        excess = np.maximum(lower - angle, angle - upper)
        frames = np.flatnonzero(excess > limit_tolerance)
        if len(frames):
            worst = float(excess.max())
            problems.append(Problem(
                "joint limit",
                f"{sk.link_names[link]} goes {np.degrees(worst):.1f} deg beyond its limits "
                f"[{np.degrees(lower):.0f}, {np.degrees(upper):.0f}] deg, frames {frame_ranges(frames)}",
                frames, worst))

    # ---- frame timing
    median = float(np.median(dt))
    off = np.flatnonzero(np.abs(dt - median) > timing_tolerance * median)
    if len(off):
        worst = int(off[np.argmax(np.abs(dt[off] - median))])
        longest = float(dt.max())
        gap = f"; about {round(longest / median) - 1} frame(s) missing after frame {int(np.argmax(dt))}" \
            if longest > 1.5 * median else ""
        problems.append(Problem(
            "frame timing",
            f"{len(off)} frame(s) do not last the median {median:.4f} s ({1 / median:.4g} fps): frame {worst} "
            f"lasts {dt[worst]:.4f} s{gap}; frames {frame_ranges(off)}",
            off, float(abs(dt[worst] - median))))

    # ---- pose jumps: an isolated spike of angular speed between two frames
    lay = clip.layout
    speeds = np.concatenate([np.linalg.norm(clip._root_ang_vel, axis=-1)[:, None],
                             np.linalg.norm(clip._joint_ang_vels, axis=-1),
                             np.abs(clip._joint_angle_vels)], axis=1)  # (F-1, 1 + joints)
    columns = ["root"] + [sk.link_names[i] for i in lay.spherical] + [sk.link_names[i] for i in lay.revolute]
    n = len(speeds)
    offsets = (-2, -1, 1, 2)
    if clip.loop == "wrap":
        rows = [(np.arange(n) + o) % n for o in offsets]
    else:
        rows = [np.clip(np.arange(n) + o, 0, n - 1) for o in offsets]
    # the median of the two intervals either side: a one-frame outlier spikes two intervals in a row
    around = np.maximum(np.median(np.stack([speeds[r] for r in rows]), axis=0), 1.0)  # >= 1 rad/s
    jump = (speeds > jump_speed) & (speeds > jump_ratio * around)
    flagged = np.flatnonzero(jump.any(axis=1))
    groups = np.split(flagged, np.flatnonzero(np.diff(flagged) > 1) + 1) if len(flagged) else []
    for group in groups:  # consecutive intervals: one outlier frame spikes the two around it
        sub = np.where(jump[group], speeds[group], 0.0)
        row, worst = np.unravel_index(int(np.argmax(sub)), sub.shape)
        interval = int(group[row])
        joints = ", ".join(columns[c] for c in np.flatnonzero(jump[group].any(axis=0)))
        problems.append(Problem(
            "pose jump",
            f"{joints} jump(s) within frames {group[0]}-{group[-1] + 1}: {columns[worst]} turns "
            f"{speeds[interval, worst] * dt[interval]:.2f} rad from frame {interval} to {interval + 1} "
            f"({speeds[interval, worst]:.1f} rad/s, {speeds[interval, worst] / around[interval, worst]:.0f}x the "
            f"frames around)",
            np.arange(group[0], group[-1] + 2), float(speeds[interval, worst])))

    # ---- loop seam: a wrap clip's last frame should meet its first; the reference jumps there otherwise
    if clip.loop == "wrap":
        seam = np.concatenate([quat.angle_between(clip.joint_quats[-1], clip.joint_quats[0]),
                               np.abs(clip.joint_angles[-1] - clip.joint_angles[0])])
        steps = speeds[:, 1:] * dt[:, None]  # per-interval joint turns, same columns as seam
        typical = np.median(steps, axis=0)
        limit = np.maximum(jump_ratio * typical, jump_speed * float(np.median(dt)))
        bad = np.flatnonzero(seam > limit)
        if len(bad):
            order = bad[np.argsort(-seam[bad])]
            joints = ", ".join(f"{columns[1 + c]} {seam[c]:.2f} rad" for c in order)
            problems.append(Problem(
                "loop seam",
                f"the clip loops (wrap) but its last frame does not meet its first: {joints} apart "
                f"(typical frame-to-frame turns {float(np.median(typical)):.2f} rad), so the reference jumps "
                f"there every cycle",
                np.array([len(clip.joint_quats) - 1, 0]), float(seam[order[0]])))
    return problems
