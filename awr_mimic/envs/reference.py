"""The reference motion an environment tracks.

Forward kinematics of every key frame is computed once when the env is built;
a control step only interpolates. The reference lives in "clip space" mapped to
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


class RefBatch:
    """The reference of K envs: (K, D) flat arrays in the `StateLayout` (the tracked block),
    followed by the end effectors relative to the root (E x 3) and the COM velocity (3)."""

    __slots__ = ("phase", "cycle", "flat", "layout")

    def __init__(self, phase: np.ndarray, cycle: np.ndarray, flat: np.ndarray, layout: StateLayout):
        self.phase, self.cycle, self.flat, self.layout = phase, cycle, flat, layout

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
        self._start, self._slope = start, slope
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
        self._slerp_q0, self._slerp_q1, self._slerp_theta = q0, q1, theta
        self._slerp_inv_sin = np.where(small, 0.0, 1.0 / np.where(small, 1.0, np.sin(theta)))

        self._frame_times = clip.frame_times
        self._frame_durations = clip.frame_durations
        self._last = clip.num_frames - 2
        self.flat_size = size
        lay = self.layout
        # the world vectors a clip-to-world map rotates: root position, velocity, angular velocity, COM velocity
        self._world_vectors = np.array([np.arange(s.start, s.start + 3) for s in
                                        (lay.root_pos, lay.root_vel, lay.root_ang_vel, slice(size - 3, size))])

    def locate_batch(self, t: np.ndarray):
        """Frame interval k, blend alpha, phase, cycle and whether the clip moves, for times t (K,)."""
        duration = self.clip.duration
        t = np.asarray(t, dtype=np.float64)
        if self.clip.loop == "wrap":
            cycle = np.floor(t / duration)
            local_t = t - cycle * duration
            moving = None
        else:
            cycle = np.zeros_like(t)
            moving = (t >= 0.0) & (t <= duration)  # a clamped clip ends at rest
            local_t = np.clip(t, 0.0, duration)
        k = np.clip(np.searchsorted(self._frame_times, local_t, side="right") - 1, 0, self._last)
        alpha = np.clip((local_t - self._frame_times[k]) / self._frame_durations[k], 0.0, 1.0)
        return k, alpha, local_t / duration, cycle.astype(np.int64), moving

    def at_batch(self, where, rot3: np.ndarray, rot4: np.ndarray, translation: np.ndarray) -> RefBatch:
        """The reference for K envs located by `locate_batch`, mapped to the world by each env's
        yaw rotation (K, 3, 3) / (K, 4, 4) and translation (K, 3)."""
        k, alpha, phase, cycle, moving = where
        lay = self.layout
        a = alpha[:, None]
        flat = self._start[k] + a * self._slope[k]
        # slerp, precomputed per interval; nearly equal rotations fall back to lerp weights
        theta, inv_sin = self._slerp_theta[k], self._slerp_inv_sin[k]
        wa = np.where(inv_sin > 0.0, np.sin((1.0 - a) * theta) * inv_sin, 1.0 - a)
        wb = np.where(inv_sin > 0.0, np.sin(a * theta) * inv_sin, a)
        quats = wa[..., None] * self._slerp_q0[k] + wb[..., None] * self._slerp_q1[k]
        flat[:, lay.quats] = quats.reshape(len(k), -1)
        flat[:, lay.root_pos] += cycle[:, None] * self.clip.cycle_offset
        if moving is not None and not moving.all():
            flat[~moving] *= self._at_rest
        # the root's world quantities follow each env's clip-to-world map
        vectors = flat[:, self._world_vectors] @ rot3.transpose(0, 2, 1)  # (K, 4, 3)
        vectors[:, 0] += translation
        flat[:, self._world_vectors] = vectors
        flat[:, lay.root_quat] = (rot4 @ flat[:, lay.root_quat, None])[..., 0]
        return RefBatch(phase, cycle, flat, lay)

    def link_positions(self, where, rot3: np.ndarray, translation: np.ndarray) -> np.ndarray:
        """World link COM positions (K, L, 3) of the reference located by `locate_batch`."""
        k, alpha, _, cycle, _ = where
        pos = self._link_start[k] + alpha[:, None, None] * self._link_slope[k]
        pos += (cycle[:, None] * self.clip.cycle_offset)[:, None]
        return pos @ rot3.transpose(0, 2, 1) + translation[:, None]

    def sync_transform(self, t: float, sim_root_pos, sim_root_quat) -> tuple[float, np.ndarray]:
        """The clip-to-world map (yaw angle, translation) that puts the reference root at t over
        the simulated root, with the same heading."""
        sample = self.clip.sample(t)
        yaw = quat.heading(sim_root_quat, self.up) - quat.heading(sample.root_quat, self.up)
        translation = np.asarray(sim_root_pos, dtype=np.float64) - quat.rotate(quat.yaw_quat(yaw, self.up), sample.root_pos)
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
