"""A character's kinematic tree, and forward kinematics without physics.

The tree uses pybullet's conventions so that FK here matches the simulator
exactly: each joint frame is given in its parent's *inertial* (centre-of-mass)
frame, and each link's inertial frame is given in its own link frame. Link
indices equal pybullet link indices; the base is index -1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from awr_mimic.anim import quat

FIXED, REVOLUTE, SPHERICAL = "fixed", "revolute", "spherical"


@dataclass(frozen=True)
class Skeleton:
    link_names: tuple[str, ...]
    parents: np.ndarray  # (L,) parent link index, -1 for the base
    joint_types: tuple[str, ...]  # (L,) fixed | revolute | spherical
    joint_axes: np.ndarray  # (L, 3) revolute axis in the joint frame
    joint_limits: np.ndarray  # (L, 2) revolute lower/upper angle (rad)
    parent_pos: np.ndarray  # (L, 3) joint frame in the parent's inertial frame
    parent_quat: np.ndarray  # (L, 4)
    inertial_pos: np.ndarray  # (L, 3) inertial frame in the link frame
    inertial_quat: np.ndarray  # (L, 4)
    masses: np.ndarray  # (L,)
    base_mass: float
    base_inertial_pos: np.ndarray  # (3,)
    base_inertial_quat: np.ndarray  # (4,)

    @property
    def num_links(self) -> int:
        return len(self.link_names)

    @property
    def total_mass(self) -> float:
        return float(self.masses.sum() + self.base_mass)

    def link_index(self, name: str) -> int:
        return self.link_names.index(name)

    def forward_kinematics(self, root_pos, root_quat, local_rots) -> "FKResult":
        """Link frames, link centres of mass and the body COM of one or many poses.

        root_pos (..., 3) and root_quat (..., 4) place the base link frame in the
        world; local_rots (..., L, 4) is each joint's rotation (identity for fixed).
        """
        root_pos = np.asarray(root_pos, dtype=np.float64)
        root_quat = np.asarray(root_quat, dtype=np.float64)
        local_rots = np.asarray(local_rots, dtype=np.float64)
        batch = root_pos.shape[:-1]
        n = self.num_links
        frame_pos = np.empty(batch + (n, 3))
        frame_quat = np.empty(batch + (n, 4))
        com_pos = np.empty(batch + (n, 3))
        com_quat = np.empty(batch + (n, 4))
        base_com_pos = root_pos + quat.rotate(root_quat, self.base_inertial_pos)
        base_com_quat = quat.multiply(root_quat, self.base_inertial_quat)
        # Links are stored parents-first, so one pass over the tree suffices;
        # every step is vectorised over the batch of poses.
        for i in range(n):
            parent = self.parents[i]
            p_pos = base_com_pos if parent < 0 else com_pos[..., parent, :]
            p_quat = base_com_quat if parent < 0 else com_quat[..., parent, :]
            joint_quat = quat.multiply(p_quat, self.parent_quat[i])
            frame_pos[..., i, :] = p_pos + quat.rotate(p_quat, self.parent_pos[i])
            frame_quat[..., i, :] = quat.multiply(joint_quat, local_rots[..., i, :])
            com_pos[..., i, :] = frame_pos[..., i, :] + quat.rotate(frame_quat[..., i, :], self.inertial_pos[i])
            com_quat[..., i, :] = quat.multiply(frame_quat[..., i, :], self.inertial_quat[i])
        body_com = (np.einsum("...lk,l->...k", com_pos, self.masses) + self.base_mass * base_com_pos) / self.total_mass
        return FKResult(frame_pos, frame_quat, com_pos, com_quat, body_com)


@dataclass
class FKResult:
    frame_pos: np.ndarray  # (..., L, 3) URDF link frames
    frame_quat: np.ndarray  # (..., L, 4)
    com_pos: np.ndarray  # (..., L, 3) link centres of mass (pybullet's linkWorldPosition)
    com_quat: np.ndarray  # (..., L, 4)
    body_com: np.ndarray  # (..., 3) whole-body centre of mass
