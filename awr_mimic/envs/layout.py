"""The flat state layout shared by the simulated state and the reference.

Both are packed into one float array per control step with the same leading
"tracked" block, so the reward takes every linear difference with one
subtraction and weighs them with one matrix product:

    root_pos (3) | root_vel (3) | quats (1+S)x4: root, then spherical joints |
    ang_vels (1+S)x3: root (world), then joints (local) | joint_angles (R) | joint_angle_vels (R)
"""
from __future__ import annotations


class StateLayout:
    def __init__(self, num_spherical: int, num_revolute: int):
        S, R = num_spherical, num_revolute
        self.num_spherical, self.num_revolute = S, R
        start = 0
        for name, size in [("root_pos", 3), ("root_vel", 3), ("quats", 4 * (1 + S)), ("ang_vels", 3 * (1 + S)),
                           ("joint_angles", R), ("joint_angle_vels", R)]:
            setattr(self, name, slice(start, start + size))
            start += size
        self.size = start  # the tracked block
        self.root_ang_vel = slice(self.ang_vels.start, self.ang_vels.start + 3)
        self.root_quat = slice(self.quats.start, self.quats.start + 4)
