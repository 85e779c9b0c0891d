"""DeepMimic's imitation reward (Peng et al. 2018, eq. 4-8; C++ CalcRewardImitate).

    r = sum_i w_i exp(-k_i e_i),   r in [0, 1]

with the terms below. Every error is computed for all joints at once.
"""
from __future__ import annotations

import math

import numpy as np

from awr_mimic.anim import quat

# term: (weight, scale k). DeepMimic's raw weights 0.5/0.05/0.15/0.2/0.1 already sum to 1.
TERMS = {
    "pose": (0.5, 2.0),
    "velocity": (0.05, 0.1),
    "end_effector": (0.15, 40.0),
    "root": (0.2, 5.0),
    "com": (0.1, 10.0),
}
TERM_NAMES = tuple(TERMS)
_WEIGHTS = np.array([w for w, _ in TERMS.values()])
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_WEIGHT_LIST = _WEIGHTS.tolist()
_SCALE_LIST = [k for _, k in TERMS.values()]


class ImitationReward:
    def __init__(self, joint_weights: np.ndarray, root_weight: float, is_spherical: np.ndarray, up_axis: int):
        self.sph_weights = joint_weights[is_spherical]
        self.rev_weights = joint_weights[~is_spherical]
        self.root_weight = root_weight
        self.up = up_axis

    def _relative_end_effectors(self, ee_pos, root_pos, to_heading):
        """End effectors relative to the root in its heading frame, height above the ground."""
        rel = (ee_pos - root_pos) @ to_heading.T
        rel[:, self.up] = ee_pos[:, self.up]
        return rel

    def __call__(self, sim, ref, sim_ee_pos, sim_com_vel, sim_to_heading):
        """Returns (reward, term values, tracking errors).

        sim_to_heading: the simulated root's world-to-heading matrix (shared with the observation).
        Written with few, whole-array numpy calls: this runs every control step.
        """
        # pose: weighted squared joint-rotation differences, root rotation included
        sph_dot = np.abs(np.einsum("ij,ij->i", sim.joint_quats, ref.joint_quats))
        sph_angle = 2.0 * np.arccos(np.minimum(sph_dot, 1.0))
        rev_angle = np.abs(sim.joint_angles - ref.joint_angles)
        root_angle = 2.0 * math.acos(min(abs(float(sim.root_quat @ ref.root_quat)), 1.0))
        pose_err = (
            float(self.sph_weights @ (sph_angle * sph_angle))
            + float(self.rev_weights @ (rev_angle * rev_angle))
            + self.root_weight * root_angle * root_angle
        )
        # velocity: the same weighting of squared joint-velocity differences
        dv = sim.joint_ang_vels - ref.joint_ang_vels
        dr = sim.joint_angle_vels - ref.joint_angle_vels
        dw = sim.root_ang_vel - ref.root_ang_vel
        root_ang_vel_err = float(dw @ dw)
        vel_err = (
            float(self.sph_weights @ np.einsum("ij,ij->i", dv, dv))
            + float(self.rev_weights @ (dr * dr))
            + self.root_weight * root_ang_vel_err
        )
        # end effectors: mean squared distance, root-relative in each body's heading frame
        ref_to_heading = quat.matrix(quat.yaw_quat(-quat.heading(ref.root_quat, self.up), self.up))
        ee_diff = self._relative_end_effectors(sim_ee_pos, sim.root_pos, sim_to_heading) - self._relative_end_effectors(
            ref.end_effector_pos, ref.root_pos, ref_to_heading
        )
        ee_dist2 = np.einsum("ij,ij->i", ee_diff, ee_diff)
        ee_err = float(ee_dist2.mean()) if len(ee_dist2) else 0.0
        # root: position, rotation, linear and angular velocity
        dp = sim.root_pos - ref.root_pos
        dlin = sim.root_vel - ref.root_vel
        root_err = float(dp @ dp) + 0.1 * root_angle * root_angle + 0.01 * float(dlin @ dlin) + 0.001 * root_ang_vel_err
        # centre of mass velocity
        dc = sim_com_vel - ref.com_vel
        com_err = 0.1 * float(dc @ dc)

        errors = (pose_err, vel_err, ee_err, root_err, com_err)
        terms = {name: math.exp(-k * e) for name, k, e in zip(TERM_NAMES, _SCALE_LIST, errors)}
        reward = sum(w * v for w, v in zip(_WEIGHT_LIST, terms.values()))
        num_joints = len(sph_angle) + len(rev_angle)
        tracking = {
            "joint_angle_error": (float(sph_angle.sum()) + float(rev_angle.sum())) / max(num_joints, 1),
            "end_effector_error": float(np.sqrt(ee_dist2).mean()) if len(ee_dist2) else 0.0,
        }
        return reward, terms, tracking
