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
"""
from __future__ import annotations

import numpy as np


def observation_size(num_links: int) -> int:
    return 2 + 13 * num_links


def observe(phase, sim, up_axis: int, to_heading: np.ndarray, to_heading_rot: np.ndarray) -> np.ndarray:
    """Observations (K, 2 + 13L) of a batch of K simulated states.

    phase (K,); to_heading (K, 3, 3) and to_heading_rot (K, 4, 4): `quat.inverse_heading_batch`
    of the roots, shared with the reward.
    """
    n = sim.link_pos.shape[1]
    vectors = sim.link_vectors.copy()  # [link_pos; link_vel; link_ang_vel]
    vectors[:, :n] -= sim.root_pos[:, None]
    vectors = vectors @ to_heading.transpose(0, 2, 1)
    rot = sim.link_quat @ to_heading_rot.transpose(0, 2, 1)
    rot *= np.sign(rot[..., 3:4] + 1e-300)  # w >= 0
    k = len(vectors)
    return np.concatenate(
        (np.asarray(phase).reshape(k, 1), sim.root_pos[:, up_axis : up_axis + 1], vectors[:, :n].reshape(k, -1),
         rot.reshape(k, -1), vectors[:, n:].reshape(k, -1)),
        axis=1, dtype=np.float32,
    )
