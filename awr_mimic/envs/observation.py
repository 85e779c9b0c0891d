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


def observe(phase: float, sim, up_axis: int, heading_frame: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """heading_frame: `quat.inverse_heading(sim.root_quat, up_axis)`, shared with the reward."""
    to_heading, to_heading_rot = heading_frame
    n = len(sim.link_pos)
    vectors = sim.link_vectors.copy()  # [link_pos; link_vel; link_ang_vel]
    vectors[:n] -= sim.root_pos
    vectors = vectors @ to_heading.T
    rot = sim.link_quat @ to_heading_rot.T
    rot *= np.sign(rot[:, 3:4] + 1e-300)  # w >= 0
    return np.concatenate(
        ((phase, sim.root_pos[up_axis]), vectors[:n].ravel(), rot.ravel(), vectors[n:].ravel()), dtype=np.float32
    )
