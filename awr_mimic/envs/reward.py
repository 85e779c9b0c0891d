"""DeepMimic's imitation reward (Peng et al. 2018, eq. 4-8; C++ CalcRewardImitate).

    r = sum_i w_i exp(-k_i e_i),   r in [0, 1]

with the terms below. Every error is computed for all joints (and all K envs) at once.
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
    """The reward of K envs from two rows per env in the same layout (`World._state_layout`):

        tracked (StateLayout) | end effectors (3E) | COM velocity (3) | half rotation angles (1+S)

    the simulated character's and the reference's (whose rotation angles to itself are 0); a half
    angle is arccos |q_sim . q_ref|, half the angle of the rotation between them. Every error is
    linear in the squared differences of these rows, so one subtraction, one square and one matrix
    product give all five, already times -k_i.
    """

    def __init__(self, joint_weights: np.ndarray, root_weight: float, is_spherical: np.ndarray, layout,
                 num_end_effectors: int):
        # weights of [root; spherical joints] (rotation terms) and of revolute joints
        self.rot_weights = np.concatenate([[root_weight], joint_weights[is_spherical]])
        rev_weights = joint_weights[~is_spherical]
        self.layout = lay = layout
        self.num_joints = len(joint_weights)
        E, size = num_end_effectors, lay.size
        self.end_effectors = slice(size, size + 3 * E)
        self.com_vel = slice(size + 3 * E, size + 3 * E + 3)
        self.rotation_angles = slice(size + 3 * E + 3, size + 3 * E + 3 + len(self.rot_weights))
        self.row_size = self.rotation_angles.stop
        self.num_end_effectors = E
        w = np.zeros((self.row_size, len(TERM_NAMES)))
        w[lay.joint_angles, 0] = rev_weights  # pose: revolute joints
        w[self.rotation_angles, 0] = 4.0 * self.rot_weights  # pose: rotations (2 x half angle), root included
        w[lay.ang_vels, 1] = np.repeat(self.rot_weights, 3)  # velocity
        w[lay.joint_angle_vels, 1] = rev_weights
        w[self.end_effectors, 2] = 1.0 / E if E else 0.0  # end effectors: mean squared distance
        w[lay.root_pos, 3] = 1.0  # root
        w[lay.root_vel, 3] = 0.01
        w[lay.root_ang_vel, 3] = 0.001
        w[self.rotation_angles.start, 3] = 0.4  # root rotation: 0.1 (2 x half angle)^2
        w[self.com_vel, 4] = 0.1  # centre of mass velocity
        self._weights = w * -_SCALES
        # one matrix product gives the terms' exponents and each end effector's squared distance,
        # a second (of the terms and the distances) the reward and the mean distance
        sum_ee = np.zeros((self.row_size, E))
        for e in range(E):
            sum_ee[self.end_effectors.start + 3 * e : self.end_effectors.start + 3 * e + 3, e] = 1.0
        self._exponents_and_ee = np.concatenate([self._weights, sum_ee], axis=1)
        self._reward_and_ee_mean = np.zeros((len(TERM_NAMES) + E, 2))
        self._reward_and_ee_mean[: len(TERM_NAMES), 0] = _WEIGHTS
        self._reward_and_ee_mean[len(TERM_NAMES) :, 1] = 1.0 / E if E else 0.0
        # tracking errors: mean rotation angle and |angle difference| over the actuated joints
        J = max(self.num_joints, 1)
        self._joint_mean = np.zeros(self.row_size)
        self._joint_mean[self.rotation_angles.start + 1 : self.rotation_angles.stop] = 2.0 / J  # 2 x half angle
        self._joint_mean[lay.joint_angles] = 1.0 / J
        self._ee_mean = np.full(E, 1.0 / E if E else 0.0)

    @staticmethod
    def half_angles_into(sim_quats: np.ndarray, ref_quats: np.ndarray, out: np.ndarray) -> None:
        """Half the angle (rad) of the rotation between each pair of quaternions (K, 1+S, 4) into out (K, 1+S)."""
        dot = np.add.reduce(np.multiply(sim_quats, ref_quats), axis=2)  # less call overhead than einsum
        np.abs(dot, out=dot)
        np.minimum(dot, 1.0, out=dot)
        np.arccos(dot, out=out)

    def from_rows(self, sim_row: np.ndarray, ref_row: np.ndarray):
        """Rewards (K,), term values (K, 5) in TERM_NAMES order, and tracking errors {name: (K,)}
        from the simulated and reference rows (K, row_size). Whole-array numpy over all K envs."""
        diff = sim_row - ref_row
        sq = diff * diff
        m = sq.dot(self._exponents_and_ee)  # (K, 5 + E); dot: matmul's numbers, less call overhead
        terms, ee_dist = m[:, : len(TERM_NAMES)], m[:, len(TERM_NAMES) :]
        np.exp(terms, out=terms)
        np.sqrt(ee_dist, out=ee_dist)
        reward_ee = m.dot(self._reward_and_ee_mean)
        np.abs(diff, out=diff)
        tracking = {"joint_angle_error": diff.dot(self._joint_mean), "end_effector_error": reward_ee[:, 1]}
        return reward_ee[:, 0], terms, tracking

    def __call__(self, sim, ref, sim_ee_rel, sim_com_vel):
        """`from_rows` from a SimBatch, a RefBatch, the simulated end effectors relative to the root
        in its heading frame, height above ground (K, E, 3), and COM velocities (K, 3)."""
        K, size = len(sim_ee_rel), self.layout.size
        sim_row, ref_row = np.empty((K, self.row_size)), np.zeros((K, self.row_size))
        sim_row[:, :size] = sim.tracked
        sim_row[:, self.end_effectors] = sim_ee_rel.reshape(K, -1)
        sim_row[:, self.com_vel] = sim_com_vel
        self.half_angles_into(sim.quats, ref.quats, sim_row[:, self.rotation_angles])
        ref_row[:, : self.rotation_angles.start] = ref.flat
        return self.from_rows(sim_row, ref_row)
