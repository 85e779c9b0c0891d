"""DeepMimic's imitation reward (Peng et al. 2018, eq. 4-8; C++ CalcRewardImitate).

    r = sum_i w_i exp(-k_i e_i),   r in [0, 1]

with the terms below. Every error is computed for all joints at once.
"""
from __future__ import annotations

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
_SCALES = np.array([k for _, k in TERMS.values()])


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
        """Rewards (K,), term values (K, 5) in TERM_NAMES order, and tracking errors {name: (K,)}.

        sim, ref: batches of K states in the shared StateLayout. sim_ee_rel: the simulated end
        effectors relative to the root in its heading frame, height above ground (K, E, 3).
        Whole-array numpy over all K envs at once: this runs every control step.
        """
        diff = sim.tracked - ref.tracked
        linear = (diff * diff) @ self.linear_weights.T  # (K, 3): revolute pose, velocity, root w/o rotation
        # rotations: angle of the quaternion difference, root first
        dot = np.abs(np.einsum("kji,kji->kj", sim.quats, ref.quats))
        rot_angle = 2.0 * np.arccos(np.minimum(dot, 1.0))  # (K, 1+S)
        errors = np.empty((len(diff), len(TERM_NAMES)))
        errors[:, 0] = linear[:, 0] + (rot_angle * rot_angle) @ self.rot_weights  # pose
        errors[:, 1] = linear[:, 1]  # velocity
        # end effectors: mean squared distance in the root-relative heading frame
        ee_diff = sim_ee_rel - ref.end_effector_rel
        ee_dist2 = np.einsum("kei,kei->ke", ee_diff, ee_diff)
        errors[:, 2] = ee_dist2.mean(axis=1) if ee_dist2.shape[1] else 0.0
        errors[:, 3] = linear[:, 2] + 0.1 * rot_angle[:, 0] ** 2  # root
        dc = sim_com_vel - ref.com_vel
        errors[:, 4] = 0.1 * np.einsum("ki,ki->k", dc, dc)  # centre of mass velocity
        terms = np.exp(-_SCALES * errors)
        tracking = {
            "joint_angle_error": (rot_angle[:, 1:].sum(axis=1) + np.abs(diff[:, self.angles]).sum(axis=1))
            / max(self.num_joints, 1),
            "end_effector_error": np.sqrt(ee_dist2).mean(axis=1) if ee_dist2.shape[1] else np.zeros(len(diff)),
        }
        return terms @ _WEIGHTS, terms, tracking
