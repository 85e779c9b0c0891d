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
        # weights of [root; spherical joints] and of revolute joints
        self.rot_weights = np.concatenate([[root_weight], joint_weights[is_spherical]])
        self.rev_weights = joint_weights[~is_spherical]
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
        # pose: weighted squared rotation differences of the root and every joint
        dot = np.abs(np.einsum("ij,ij->i", sim.quats, ref.quats))
        rot_angle = 2.0 * np.arccos(np.minimum(dot, 1.0))  # (1+S,), root first
        rev_angle = np.abs(sim.joint_angles - ref.joint_angles)
        pose_err = float(self.rot_weights @ (rot_angle * rot_angle) + self.rev_weights @ (rev_angle * rev_angle))
        # velocity: the same weighting of squared angular-velocity differences
        dv = sim.ang_vels - ref.ang_vels
        dv2 = np.einsum("ij,ij->i", dv, dv)
        dr = sim.joint_angle_vels - ref.joint_angle_vels
        vel_err = float(self.rot_weights @ dv2 + self.rev_weights @ (dr * dr))
        root_angle, root_ang_vel_err = float(rot_angle[0]), float(dv2[0])
        # end effectors: mean squared distance, root-relative in each body's heading frame
        ee_diff = self._relative_end_effectors(sim_ee_pos, sim.root_pos, sim_to_heading) - ref.end_effector_rel
        ee_dist2 = np.einsum("ij,ij->i", ee_diff, ee_diff)
        num_ee = len(ee_dist2)
        ee_err = float(ee_dist2.sum()) / num_ee if num_ee else 0.0
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
        num_joints = len(rot_angle) - 1 + len(rev_angle)
        tracking = {
            "joint_angle_error": (float(rot_angle[1:].sum()) + float(rev_angle.sum())) / max(num_joints, 1),
            "end_effector_error": float(np.sqrt(ee_dist2).sum()) / num_ee if num_ee else 0.0,
        }
        return reward, terms, tracking
