"""DeepMimic's imitation reward (Peng et al. 2018, eq. 4-8; C++ CalcRewardImitate).

    r = sum_i w_i exp(-k_i e_i),   r in [0, 1]

with the terms below. Every error is computed for all joints at once.
"""
from __future__ import annotations

import math

import numpy as np

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
    def __init__(self, joint_weights: np.ndarray, root_weight: float, is_spherical: np.ndarray, layout):
        # weights of [root; spherical joints] (rotation terms) and of revolute joints
        self.rot_weights = np.concatenate([[root_weight], joint_weights[is_spherical]])
        rev_weights = joint_weights[~is_spherical]
        # Rows of squared-difference weights over the tracked block of the StateLayout:
        # 0: the revolute part of the pose error, 1: the velocity error, 2: the root error
        # without its rotation term. One matrix product gives all three.
        lay = layout
        lin = np.zeros((3, lay.size))
        lin[0, lay.joint_angles] = rev_weights
        lin[1, lay.ang_vels] = np.repeat(self.rot_weights, 3)
        lin[1, lay.joint_angle_vels] = rev_weights
        lin[2, lay.root_pos] = 1.0
        lin[2, lay.root_vel] = 0.01
        lin[2, lay.root_ang_vel] = 0.001
        self.linear_weights = lin
        self.angles = lay.joint_angles
        self.num_joints = len(joint_weights)

    def __call__(self, sim, ref, sim_ee_rel, sim_com_vel):
        """Returns (reward, term values, tracking errors).

        sim_ee_rel: the simulated end effectors relative to the root in its heading frame,
        height above ground (E, 3). Whole-array numpy only: this runs every control step.
        """
        diff = sim.tracked - ref.tracked
        pose_rev, vel_err, root_lin = self.linear_weights @ (diff * diff)
        # rotations: angle of the quaternion difference, root first
        dot = np.abs(np.einsum("ij,ij->i", sim.quats, ref.quats))
        rot_angle = 2.0 * np.arccos(np.minimum(dot, 1.0))
        pose_err = float(pose_rev + self.rot_weights @ (rot_angle * rot_angle))
        root_angle = float(rot_angle[0])
        root_err = float(root_lin) + 0.1 * root_angle * root_angle
        # end effectors: mean squared distance in the root-relative heading frame
        ee_diff = sim_ee_rel - ref.end_effector_rel
        ee_dist2 = np.einsum("ij,ij->i", ee_diff, ee_diff)
        num_ee = len(ee_dist2)
        ee_err = float(ee_dist2.sum()) / num_ee if num_ee else 0.0
        # centre of mass velocity
        dc = sim_com_vel - ref.com_vel
        com_err = 0.1 * float(dc @ dc)

        errors = (pose_err, float(vel_err), ee_err, root_err, com_err)
        terms = {name: math.exp(-k * e) for name, k, e in zip(TERM_NAMES, _SCALE_LIST, errors)}
        reward = sum(w * v for w, v in zip(_WEIGHT_LIST, terms.values()))
        tracking = {
            "joint_angle_error": (float(rot_angle[1:].sum()) + float(np.abs(diff[self.angles]).sum()))
            / max(self.num_joints, 1),
            "end_effector_error": float(np.sqrt(ee_dist2).sum()) / num_ee if num_ee else 0.0,
        }
        return reward, terms, tracking
