"""A simple follow camera for `render_mode="rgb_array"` (pybullet's tiny renderer)."""
from __future__ import annotations

import numpy as np

from awr_mimic.envs.world import World, p


def render_rgb(world: World, target, up_axis: int, width: int, height: int) -> np.ndarray:
    up = [0.0, 0.0, 0.0]
    up[up_axis] = 1.0
    target = np.asarray(target, dtype=np.float64)
    eye = target + (np.array([0.0, 0.6, 3.0]) if up_axis == 1 else np.array([0.0, -3.0, 0.6]))
    view = p.computeViewMatrix(eye.tolist(), target.tolist(), up, physicsClientId=world.client)
    proj = p.computeProjectionMatrixFOV(60, width / height, 0.05, 100.0, physicsClientId=world.client)
    _, _, rgba, _, _ = p.getCameraImage(
        width, height, view, proj, renderer=p.ER_TINY_RENDERER, physicsClientId=world.client
    )
    return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[:, :, :3]
