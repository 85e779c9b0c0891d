"""The policy's observation (DeepMimic / pybullet's port layout).

    [0]                phase in [0, 1]
    [1]                root height above the ground
    [2 : 2+7L]         per link: COM position minus root position (3), then
                       rotation quaternion x,y,z,w with w >= 0 (4); heading frame
    [2+7L : 2+13L]     per link: linear velocity (3), then angular velocity (3);
                       heading frame

L = number of links (15 for the humanoid, so 197 numbers). The heading frame is
the root's yaw about the up axis, so the observation does not change when the
character turns or moves on the ground.
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
    rot *= np.where(rot[:, 3:4] < 0.0, -1.0, 1.0)
    out = np.empty(2 + 13 * n, dtype=np.float32)
    out[0] = phase
    out[1] = sim.root_pos[up_axis]
    pose = out[2 : 2 + 7 * n].reshape(n, 7)
    pose[:, :3] = vectors[:n]
    pose[:, 3:] = rot
    motion = out[2 + 7 * n :].reshape(n, 6)
    motion[:, :3] = vectors[n : 2 * n]
    motion[:, 3:] = vectors[2 * n :]
    return out
