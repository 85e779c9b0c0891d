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
    root_ang_vel: np.ndarray
    joint_quats: np.ndarray  # (S, 4)
    joint_angles: np.ndarray  # (R,)
    joint_ang_vels: np.ndarray  # (S, 3)
    joint_angle_vels: np.ndarray  # (R,)
    end_effector_pos: np.ndarray  # (E, 3) link centres of mass, world
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
        dt = clip.frame_durations[:-1, None]
        # Per key frame, packed so that a step interpolates with a few array ops:
        self._quats = np.concatenate([clip.root_quat[:, None], clip.joint_quats], axis=1)  # (F, 1+S, 4)
        self._points = np.concatenate([clip.root_pos[:, None], ee_pos], axis=1)  # (F, 1+E, 3)
        self._angles = clip.joint_angles
        # per frame interval: root velocity, root angular velocity, COM velocity (world vectors)
        com_vel = np.diff(fk.body_com, axis=0) / dt
        self._vectors = np.stack([clip._root_vel, clip._root_ang_vel, com_vel], axis=1)  # (F-1, 3, 3)
        self._joint_ang_vels = clip._joint_ang_vels
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
        quats = quat.slerp(self._quats[k], self._quats[k + 1], alpha)
        points = self._points[k] + alpha * (self._points[k + 1] - self._points[k])
        if cycle:
            points = points + cycle * self.clip.cycle_offset
        angles = self._angles[k] + alpha * (self._angles[k + 1] - self._angles[k])
        if moving:
            vectors, ang_vels, angle_vels = self._vectors[k], self._joint_ang_vels[k], self._joint_angle_vels[k]
        else:
            vectors = np.zeros((3, 3))
            ang_vels, angle_vels = np.zeros_like(self._joint_ang_vels[0]), np.zeros_like(self._joint_angle_vels[0])
        root_quat = quats[0]
        if not self._identity:
            points = points @ self._rot3.T + self.translation
            vectors = vectors @ self._rot3.T
            root_quat = self._rot4 @ root_quat
        return RefState(
            phase=phase,
            cycle=cycle,
            root_pos=points[0],
            root_quat=root_quat,
            root_vel=vectors[0],
            root_ang_vel=vectors[1],
            joint_quats=quats[1:],
            joint_angles=angles,
            joint_ang_vels=ang_vels,
            joint_angle_vels=angle_vels,
            end_effector_pos=points[1:],
            com_vel=vectors[2],
        )

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
