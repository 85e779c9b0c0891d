"""The reference motion an environment tracks.

Forward kinematics of every key frame is computed once when the env is built;
a control step only interpolates. The reference lives in "clip space" mapped to
the world by a yaw rotation about the up axis plus a translation. At the start
of every loop cycle that map is re-fitted so the reference root sits over the
simulated root with the same heading, as C++ DeepMimic does, so the reference
never drifts away from the character (pybullet's port skips this).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from awr_mimic.anim import quat
from awr_mimic.anim.clip import Clip
from awr_mimic.characters.character import Character


@dataclass
class RefState:
    phase: float
    cycle: int
    root_pos: np.ndarray
    root_quat: np.ndarray
    root_vel: np.ndarray
    root_ang_vel: np.ndarray  # world
    quats: np.ndarray  # (1+S, 4) root rotation, then spherical joints (local)
    ang_vels: np.ndarray  # (1+S, 3) root angular velocity (world), then joints (local)
    joint_quats: np.ndarray  # (S, 4)
    joint_angles: np.ndarray  # (R,)
    joint_ang_vels: np.ndarray  # (S, 3)
    joint_angle_vels: np.ndarray  # (R,)
    end_effector_pos: np.ndarray  # (E, 3) link centres of mass, world
    end_effector_rel: np.ndarray  # (E, 3) root-relative in the heading frame, height above ground
    com_vel: np.ndarray  # (3,) whole-body COM velocity, world


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
        # End effectors relative to the root in its heading frame, height above ground: this is
        # what the reward compares, and it does not change when the reference is re-synced.
        inv_heading = quat.from_axis_angle(quat.axis_vector(self.up), -quat.yaw_about(clip.root_quat, self.up))
        ee_rel = quat.rotate(inv_heading[:, None], ee_pos - clip.root_pos[:, None])
        ee_rel[..., self.up] = ee_pos[..., self.up]
        self._ee_rel = ee_rel
        dt = clip.frame_durations[:-1, None]
        # Per key frame, packed so that a step interpolates with a few array ops:
        quats = np.concatenate([clip.root_quat[:, None], clip.joint_quats], axis=1)  # (F, 1+S, 4)
        # slerp per frame interval, precomputed: q(a) = sin((1-a)th)/sin(th) q0 + sin(a th)/sin(th) q1
        q0, q1 = quats[:-1], quats[1:]
        dot = np.einsum("fji,fji->fj", q0, q1)
        q1 = np.where(dot[..., None] < 0.0, -q1, q1)  # shorter arc
        theta = np.arccos(np.minimum(np.abs(dot), 1.0))
        self._slerp_q0, self._slerp_q1, self._slerp_theta = q0, q1, theta
        small = theta < 1e-6  # nearly equal: fall back to lerp weights
        self._slerp_small = small
        self._slerp_inv_sin = np.where(small, 0.0, 1.0 / np.where(small, 1.0, np.sin(theta)))
        self._slerp_any_small = small.any(axis=1)
        self._points = np.concatenate([clip.root_pos[:, None], ee_pos], axis=1)  # (F, 1+E, 3)
        self._angles = clip.joint_angles
        # per frame interval: root and COM velocity (world), angular velocities (root world, joints local)
        com_vel = np.diff(fk.body_com, axis=0) / dt
        self._vectors = np.stack([clip._root_vel, com_vel], axis=1)  # (F-1, 2, 3)
        self._ang_vels = np.concatenate([clip._root_ang_vel[:, None], clip._joint_ang_vels], axis=1)
        self._joint_angle_vels = clip._joint_angle_vels
        self._times = clip.frame_times.tolist()
        self._durations = clip.frame_durations.tolist()
        self._last = clip.num_frames - 2
        self.reset_transform()

    def reset_transform(self):
        self.yaw_quat = quat.IDENTITY.copy()
        self.translation = np.zeros(3)
        self._identity = True

    def sync_to(self, t: float, sim_root_pos: np.ndarray, sim_root_quat: np.ndarray):
        """Re-fit the clip-to-world map so the reference root at t is over the simulated root."""
        sample = self.clip.sample(t)
        yaw = quat.heading(sim_root_quat, self.up) - quat.heading(sample.root_quat, self.up)
        self.yaw_quat = quat.yaw_quat(yaw, self.up)
        translation = sim_root_pos - quat.rotate(self.yaw_quat, sample.root_pos)
        translation[self.up] = 0.0
        self.translation = translation
        self._rot3 = quat.matrix(self.yaw_quat)
        self._rot4 = quat.left_matrix(self.yaw_quat)
        self._identity = False

    def locate(self, t: float) -> tuple[int, float, float, int, bool]:
        """Frame interval k, blend alpha, phase, cycle, and whether the clip is moving."""
        duration = self.clip.duration
        if self.clip.loop == "wrap":
            cycle = math.floor(t / duration)
            local_t = t - cycle * duration
            moving = True
        else:
            cycle = 0
            moving = 0.0 <= t <= duration  # a clamped clip ends at rest
            local_t = min(max(t, 0.0), duration)
        k = min(max(bisect.bisect_right(self._times, local_t) - 1, 0), self._last)
        alpha = min(max((local_t - self._times[k]) / self._durations[k], 0.0), 1.0)
        return k, alpha, local_t / duration, cycle, moving

    def at(self, t: float) -> RefState:
        k, alpha, phase, cycle, moving = self.locate(t)
        quats = self._slerp(k, alpha)
        points = self._points[k] + alpha * (self._points[k + 1] - self._points[k])
        if cycle:
            points = points + cycle * self.clip.cycle_offset
        angles = self._angles[k] + alpha * (self._angles[k + 1] - self._angles[k])
        ee_rel = self._ee_rel[k] + alpha * (self._ee_rel[k + 1] - self._ee_rel[k])
        if moving:
            vectors, ang_vels, angle_vels = self._vectors[k], self._ang_vels[k], self._joint_angle_vels[k]
        else:
            vectors, ang_vels = np.zeros_like(self._vectors[0]), np.zeros_like(self._ang_vels[0])
            angle_vels = np.zeros_like(self._joint_angle_vels[0])
        if not self._identity:
            points = points @ self._rot3.T + self.translation
            vectors = vectors @ self._rot3.T
            quats[0] = self._rot4 @ quats[0]
            ang_vels = ang_vels.copy()
            ang_vels[0] = self._rot3 @ ang_vels[0]
        return RefState(
            phase=phase,
            cycle=cycle,
            root_pos=points[0],
            root_quat=quats[0],
            root_vel=vectors[0],
            root_ang_vel=ang_vels[0],
            quats=quats,
            ang_vels=ang_vels,
            joint_quats=quats[1:],
            joint_angles=angles,
            joint_ang_vels=ang_vels[1:],
            joint_angle_vels=angle_vels,
            end_effector_pos=points[1:],
            end_effector_rel=ee_rel,
            com_vel=vectors[1],
        )

    def _slerp(self, k: int, alpha: float) -> np.ndarray:
        theta = self._slerp_theta[k]
        if self._slerp_any_small[k]:
            return quat.slerp(self._slerp_q0[k], self._slerp_q1[k], np.full(len(theta), alpha))
        inv_sin = self._slerp_inv_sin[k]
        wa = np.sin((1.0 - alpha) * theta) * inv_sin
        wb = np.sin(alpha * theta) * inv_sin
        return wa[:, None] * self._slerp_q0[k] + wb[:, None] * self._slerp_q1[k]

    def link_frames(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """World link frames (L, 3), (L, 4) of the reference at t: for viewers, not the hot path."""
        s = self.clip.sample(t)
        skeleton = self.character.skeleton
        fk = skeleton.forward_kinematics(
            quat.rotate(self.yaw_quat, s.root_pos) + self.translation,
            quat.multiply(self.yaw_quat, s.root_quat),
            self.clip.local_rotations(skeleton, s.joint_quats, s.joint_angles),
        )
        return fk.frame_pos, fk.frame_quat
