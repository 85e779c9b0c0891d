"""The reference motion an environment tracks.

Forward kinematics of every key frame is computed once when the env is built;
the reference at any time only interpolates, and an env computes the rows of its
next control steps at once (`rows`). The reference lives in "clip space" mapped to
the world by a yaw rotation about the up axis plus a translation. At the start
of every loop cycle that map is re-fitted so the reference root sits over the
simulated root with the same heading, as C++ DeepMimic does, so the reference
never drifts away from the character (pybullet's port skips this).
"""
from __future__ import annotations


import numpy as np

from awr_mimic.anim import quat
from awr_mimic.anim.clip import Clip
from awr_mimic.characters.character import Character
from awr_mimic.envs.layout import StateLayout


_AB_SCALE, _AB_SHIFT = np.array([-1.0, 1.0]), np.array([1.0, 0.0])  # alpha -> (1 - alpha, alpha)


class RefBatch:
    """The reference of K envs: (K, D) flat arrays in the `StateLayout` (the tracked block),
    followed by the end effectors relative to the root (E x 3) and the COM velocity (3)."""

    __slots__ = ("phase", "_cycle", "flat", "layout")

    def __init__(self, phase: np.ndarray, cycle: np.ndarray, flat: np.ndarray, layout: StateLayout):
        self.phase, self._cycle, self.flat, self.layout = phase, cycle, flat, layout

    @property
    def cycle(self):  # (K,) int: the loop cycle
        return np.asarray(self._cycle).astype(np.int64)

    @property
    def tracked(self):
        return self.flat[:, : self.layout.size]

    @property
    def quats(self):  # (K, 1+S, 4): root rotation (world), then spherical joints (local)
        return self.flat[:, self.layout.quats].reshape(len(self.flat), -1, 4)

    @property
    def ang_vels(self):  # (K, 1+S, 3): root angular velocity (world), then joints (local)
        return self.flat[:, self.layout.ang_vels].reshape(len(self.flat), -1, 3)

    root_pos = property(lambda self: self.flat[:, self.layout.root_pos])
    root_vel = property(lambda self: self.flat[:, self.layout.root_vel])
    root_quat = property(lambda self: self.quats[:, 0])
    root_ang_vel = property(lambda self: self.ang_vels[:, 0])
    joint_quats = property(lambda self: self.quats[:, 1:])
    joint_ang_vels = property(lambda self: self.ang_vels[:, 1:])
    joint_angles = property(lambda self: self.flat[:, self.layout.joint_angles])
    joint_angle_vels = property(lambda self: self.flat[:, self.layout.joint_angle_vels])

    @property
    def end_effector_rel(self):  # (K, E, 3) root-relative in the heading frame, height above ground
        return self.flat[:, self.layout.size : -3].reshape(len(self.flat), -1, 3)

    @property
    def com_vel(self):  # (K, 3) whole-body COM velocity, world
        return self.flat[:, -3:]


class ReferenceMotion:
    def __init__(self, character: Character, clip: Clip):
        self.character = character
        self.clip = clip
        self.up = character.up_axis
        skeleton = character.skeleton
        frames = clip.frame_sample()
        fk = skeleton.forward_kinematics(
            frames.root_pos, frames.root_quat, clip.local_rotations(skeleton, frames.joint_quats, frames.joint_angles)
        )
        ee_pos = fk.com_pos[:, character.end_effector_links]  # (F, E, 3)
        # End effectors relative to the root in its heading frame, height above ground: what the
        # reward compares. It does not change when the reference is re-synced.
        inv_heading = quat.from_axis_angle(quat.axis_vector(self.up), -quat.yaw_about(clip.root_quat, self.up))
        ee_rel = quat.rotate(inv_heading[:, None], ee_pos - clip.root_pos[:, None])
        ee_rel[..., self.up] = ee_pos[..., self.up]
        com_vel = np.diff(fk.body_com, axis=0) / clip.frame_durations[:-1, None]
        # link COM positions in clip space, lerped per interval (drift termination)
        self._link_start, self._link_slope = fk.com_pos[:-1], np.diff(fk.com_pos, axis=0)

        # Each frame interval k as flat = start[k] + alpha * slope[k]: positions and angles
        # are lerped, velocities are constant per interval (those of the interpolation);
        # the quaternion slots are filled by slerp.
        S, R = clip.joint_quats.shape[1], clip.joint_angles.shape[1]
        self.layout = lay = StateLayout(S, R)
        intervals, size = clip.num_frames - 1, lay.size + 3 * ee_rel.shape[1] + 3
        start, slope = np.zeros((intervals, size)), np.zeros((intervals, size))
        start[:, lay.root_pos], slope[:, lay.root_pos] = clip.root_pos[:-1], np.diff(clip.root_pos, axis=0)
        start[:, lay.root_vel] = clip._root_vel
        start[:, lay.ang_vels] = np.concatenate([clip._root_ang_vel[:, None], clip._joint_ang_vels], axis=1).reshape(intervals, -1)
        start[:, lay.joint_angles] = clip.joint_angles[:-1]
        slope[:, lay.joint_angles] = np.diff(clip.joint_angles, axis=0)
        start[:, lay.joint_angle_vels] = clip._joint_angle_vels
        start[:, lay.size : -3] = ee_rel[:-1].reshape(intervals, -1)
        slope[:, lay.size : -3] = np.diff(ee_rel, axis=0).reshape(intervals, -1)
        start[:, -3:] = com_vel
        # zero the velocities of a clamped clip outside [0, duration]
        self._at_rest = np.ones(size)
        for vel in (lay.root_vel, lay.ang_vels, lay.joint_angle_vels, slice(size - 3, size)):
            self._at_rest[vel] = 0.0

        # slerp per frame interval, precomputed: q(a) = sin((1-a)th)/sin(th) q0 + sin(a th)/sin(th) q1
        quats = np.concatenate([clip.root_quat[:, None], clip.joint_quats], axis=1)  # (F, 1+S, 4)
        q0, q1 = quats[:-1], quats[1:]
        dot = np.einsum("fji,fji->fj", q0, q1)
        q1 = np.where(dot[..., None] < 0.0, -q1, q1)  # shorter arc
        theta = np.arccos(np.minimum(np.abs(dot), 1.0))
        small = theta < 1e-6  # nearly equal: quat.slerp falls back to lerp
        inv_sin = np.where(small, 0.0, 1.0 / np.where(small, 1.0, np.sin(theta)))
        # intervals with a (nearly) constant rotation, which slerp replaces by lerp; None: there are none
        self._lerp_mask = small if small.any() else None

        self._frame_times = clip.frame_times
        self._last = clip.num_frames - 2
        self.flat_size = size
        # Everything a frame interval needs, in one row, so that a step gathers once: lerp start
        # and slope, slerp ends q0 and q1, slerp angles and 1/sin, the interval's start time and duration.
        J = q0.shape[1]
        self._table = np.concatenate([start, slope, q0.reshape(intervals, -1), q1.reshape(intervals, -1), theta,
                                      inv_sin, clip.frame_times[:intervals, None],
                                      clip.frame_durations[:intervals, None]], axis=1)
        self._cuts = [int(c) for c in np.cumsum([size, size, 8 * J, J, J])]
        self._num_quats = J
        # The clip-to-world map moves the root position, velocity, angular velocity, the COM
        # velocity (yaw rotation) and the root rotation (yaw, left-multiplied): 16 numbers of a
        # row, mapped with the row's constant 1 (the translation) by one (17, 16) matrix (`world_map`).
        self._map_out = np.concatenate([np.arange(size)[s] for s in (
            lay.root_pos, lay.root_vel, lay.root_ang_vel, slice(size - 3, size), lay.root_quat)])
        # a row: the flat reference, zeros where the simulated row has its rotation angles (the
        # reference's own are 0), then the time, phase, cycle, interval, alpha and a constant 1
        self.meta = size + 1 + S
        self.row_size = self.meta + 6
        self._map_in = np.concatenate([self._map_out, [self.meta + self.ROW_ONE]])

    def world_map(self, yaw_quat=quat.IDENTITY, translation=(0.0, 0.0, 0.0)) -> np.ndarray:
        """The clip-to-world map (a yaw rotation about the up axis, then a translation) as the
        (17, 16) matrix `to_world` takes."""
        r3, r4 = quat.matrix(yaw_quat), quat.left_matrix(yaw_quat)
        m = np.zeros((17, 16))
        for i in range(4):
            m[3 * i : 3 * i + 3, 3 * i : 3 * i + 3] = r3.T
        m[12:16, 12:] = r4.T
        m[16, :3] = translation
        return m

    def locate_batch(self, t: np.ndarray):
        """Frame interval k, blend alpha, phase, cycle, whether the clip moves (None: always) and the
        interval's row of precomputed numbers, for times t (K,)."""
        duration = self.clip.duration
        t = np.asarray(t, dtype=np.float64)
        if self.clip.loop == "wrap":
            cycle = np.floor(t / duration)
            local_t = t - cycle * duration
            moving = None
        else:
            cycle = np.zeros_like(t)
            moving = (t >= 0.0) & (t <= duration)  # a clamped clip ends at rest
            local_t = np.minimum(np.maximum(t, 0.0), duration)
        # ufuncs rather than np.clip: the same numbers without its Python wrapper (this runs every step)
        k = self._frame_times.searchsorted(local_t, side="right") - 1
        k = np.minimum(np.maximum(k, 0), self._last)
        row = self._table[k]
        alpha = np.minimum(np.maximum((local_t - row[:, -2]) / row[:, -1], 0.0), 1.0)
        return k, alpha, local_t / duration, cycle.astype(np.int64), moving, row

    def clip_frame(self, where) -> np.ndarray:
        """The flat reference (K, flat_size) located by `locate_batch`, in clip space (no clip-to-world map)."""
        k, alpha, phase, cycle, moving, row = where
        lay = self.layout
        n = len(k)
        c0, c1, c2, c3, c4 = self._cuts
        a = alpha[:, None]
        flat = row[:, :c0] + a * row[:, c0:c1]
        # slerp, precomputed per interval: weights sin((1-a) th)/sin th and sin(a th)/sin th, one
        # sine for both; nearly equal rotations fall back to lerp weights (1-a, a)
        ab = a * _AB_SCALE + _AB_SHIFT  # (K, 2): 1 - a, a
        w = np.sin(ab[:, :, None] * row[:, None, c2:c3])
        w *= row[:, None, c3:c4]
        if self._lerp_mask is not None:
            w = np.where(self._lerp_mask[k][:, None], ab[:, :, None], w)
        J = self._num_quats
        quats = np.add.reduce(w[..., None] * row[:, c1:c2].reshape(n, 2, J, 4), axis=1)
        flat[:, lay.quats] = quats.reshape(n, -1)
        flat[:, lay.root_pos] += cycle[:, None] * self.clip.cycle_offset
        if moving is not None and not moving.all():
            flat[~moving] *= self._at_rest
        return flat

    # the numbers after the flat reference in a row of `rows`
    ROW_TIME, ROW_PHASE, ROW_CYCLE, ROW_K, ROW_ALPHA, ROW_ONE = range(6)

    def rows(self, t: np.ndarray) -> np.ndarray:
        """The clip-space reference at times t (n,), one row each (`row_size` numbers): the flat
        reference (`flat_size`), zeros (1 + S: the rotation angles to itself), then from `meta` on
        the time, phase, cycle, frame interval k, blend alpha and 1."""
        where = self.locate_batch(t)
        out = np.zeros((len(where[0]), self.row_size))
        out[:, : self.flat_size] = self.clip_frame(where)
        meta = out[:, self.meta :]
        meta[:, self.ROW_TIME], meta[:, self.ROW_PHASE], meta[:, self.ROW_CYCLE] = t, where[2], where[3]
        meta[:, self.ROW_K], meta[:, self.ROW_ALPHA], meta[:, self.ROW_ONE] = where[0], where[1], 1.0
        return out

    def to_world(self, rows: np.ndarray, maps: np.ndarray) -> None:
        """Map clip-space rows (K, M, row_size) to the world, in place, by each env's clip-to-world
        map (K, 17, 16) (`world_map`)."""
        rows[..., self._map_out] = np.matmul(rows[..., self._map_in], maps)

    def link_positions(self, where, rot3: np.ndarray, translation: np.ndarray) -> np.ndarray:
        """World link COM positions (K, L, 3) of the reference located by `locate_batch`."""
        k, alpha, cycle = where[0], where[1], where[3]
        pos = self._link_start[k] + alpha[:, None, None] * self._link_slope[k]
        pos += (cycle[:, None] * self.clip.cycle_offset)[:, None]
        return pos @ rot3.transpose(0, 2, 1) + translation[:, None]

    def sync_transform(self, ref_root_pos, ref_root_quat, sim_root_pos, sim_root_quat) -> tuple[float, np.ndarray]:
        """The clip-to-world map (yaw angle, translation) that puts the reference root (clip space,
        as `rows` gives it) over the simulated root, with the same heading."""
        yaw = quat.heading(sim_root_quat, self.up) - quat.heading(ref_root_quat, self.up)
        translation = np.asarray(sim_root_pos, dtype=np.float64) - quat.rotate(quat.yaw_quat(yaw, self.up), ref_root_pos)
        translation[self.up] = 0.0
        return yaw, translation

    def link_frames(self, t: float, yaw_quat=quat.IDENTITY, translation=(0.0, 0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
        """World link frames (L, 3), (L, 4) of the reference at t: for viewers, not the hot path."""
        s = self.clip.sample(t)
        skeleton = self.character.skeleton
        fk = skeleton.forward_kinematics(
            quat.rotate(yaw_quat, s.root_pos) + np.asarray(translation),
            quat.multiply(yaw_quat, s.root_quat),
            self.clip.local_rotations(skeleton, s.joint_quats, s.joint_angles),
        )
        return fk.frame_pos, fk.frame_quat
