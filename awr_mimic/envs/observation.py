"""The policy's observation.

    [0]                 phase in [0, 1]
    [1]                 root height above the ground
    [2      : 2+3L]     per link: COM position minus the root position (3)
    [2+3L   : 2+7L]     per link: rotation quaternion x,y,z,w with w >= 0 (4)
    [2+7L   : 2+10L]    per link: linear velocity (3)
    [2+10L  : 2+13L]    per link: angular velocity (3)

everything in the heading frame. L = number of links (15 for the humanoid, so
197 numbers, as in pybullet's DeepMimic port; grouped by quantity rather than
by link, which lets it be assembled with one concatenation). The heading frame
is the root's yaw about the up axis, so the observation does not change when
the character turns or moves over the ground.

With target observations (``target_obs_steps``, as MimicKit's ``tar_obs_steps``), the
reference at each of those future control steps follows, one block per step:

    root position minus the simulated root, heading frame, with the absolute height (3)
    root rotation in the heading frame, x,y,z,w with w >= 0 (4)
    spherical joint rotations, local, w >= 0 (4S); revolute joint angles (R)
    end effectors relative to the reference root, its heading frame, height above ground (3E)
"""
from __future__ import annotations

import numpy as np


def observation_size(num_links: int) -> int:
    return 2 + 13 * num_links


def heading_frame(sim, to_heading: np.ndarray, to_heading_rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The links in the root's heading frame: [COM position minus the root; linear velocity;
    angular velocity] (K, 3L, 3) and rotations with w >= 0 (K, L, 4). Shared by the observation
    and the reward's end effectors."""
    n = sim.num_links
    rotate = to_heading.transpose(0, 2, 1)
    vectors = np.matmul(sim.link_vectors, rotate)
    vectors[:, :n] -= np.matmul(sim.root_pos[:, None], rotate)
    rot = np.matmul(sim.link_quat, to_heading_rot.transpose(0, 2, 1))
    np.negative(rot, out=rot, where=rot[..., 3:4] < 0.0)  # w >= 0
    return vectors, rot


def observe(phase, sim, up_axis: int, to_heading: np.ndarray, to_heading_rot: np.ndarray,
            frame: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Observations (K, 2 + 13L) of a batch of K simulated states.

    phase (K,); to_heading (K, 3, 3) and to_heading_rot (K, 4, 4): `quat.inverse_heading_batch`
    of the roots, shared with the reward; frame: `heading_frame` when already computed.
    """
    k, n = len(sim), sim.num_links
    vectors, rot = frame if frame is not None else heading_frame(sim, to_heading, to_heading_rot)
    return np.concatenate(
        (np.asarray(phase).reshape(k, 1), sim.root_pos[:, up_axis : up_axis + 1], vectors[:, :n].reshape(k, -1),
         rot.reshape(k, -1), vectors[:, n:].reshape(k, -1)),
        axis=1, dtype=np.float32,
    )


def target_frame_size(num_spherical: int, num_revolute: int, num_end_effectors: int) -> int:
    return 3 + 4 + 4 * num_spherical + num_revolute + 3 * num_end_effectors


def target_frame(ref, sim_root_pos: np.ndarray, up_axis: int, to_heading: np.ndarray,
                 to_heading_rot: np.ndarray) -> np.ndarray:
    """One future reference frame (K, target_frame_size) seen from the simulated root."""
    k = len(sim_root_pos)
    pos = ((ref.root_pos - sim_root_pos)[:, None] @ to_heading.transpose(0, 2, 1))[:, 0]
    pos[:, up_axis] = ref.root_pos[:, up_axis]
    root = (to_heading_rot @ ref.root_quat[..., None])[..., 0]
    quats = np.concatenate((root[:, None], ref.joint_quats), axis=1)
    quats = quats * np.sign(quats[..., 3:4] + 1e-300)  # w >= 0
    return np.concatenate((pos, quats.reshape(k, -1), ref.joint_angles, ref.end_effector_rel.reshape(k, -1)),
                          axis=1)
