"""A character's collision shapes, posed by forward kinematics without physics.

Used to measure how a clip meets the ground (the lowest point of the body at
every instant) and to put retargeted clips on the ground. Spheres, capsules
and boxes are exact; meshes use their vertices. pybullet reports each shape's
frame relative to its link's inertial frame, which is what
:meth:`Skeleton.forward_kinematics` returns as ``com_pos``/``com_quat``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from awr_mimic.anim import quat


@dataclass(frozen=True)
class Shape:
    link: int  # -1: the base
    pos: np.ndarray  # (3,) in the link's inertial frame
    quat: np.ndarray  # (4,)
    points: np.ndarray  # (P, 3) support points in the shape frame
    radius: float  # inflation of the points (spheres and capsules)


def _box_corners(extents) -> np.ndarray:
    h = 0.5 * np.asarray(extents, dtype=np.float64)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    return signs * h


@lru_cache(maxsize=32)
def _mesh_vertices(filename: str) -> np.ndarray:
    import trimesh

    mesh = trimesh.load(filename, force="mesh", process=False)
    v = np.asarray(mesh.vertices, dtype=np.float64)
    return v[np.all(np.isfinite(v), axis=1)]


def collision_shapes(client: int, body: int, num_links: int) -> list[Shape]:
    """Every collision shape of a loaded body (needs a pybullet client)."""
    import pybullet as p

    shapes = []
    for link in range(-1, num_links):
        for data in p.getCollisionShapeData(body, link, physicsClientId=client):
            geom, dims = data[2], data[3]
            pos, orn = np.array(data[5], dtype=np.float64), np.array(data[6], dtype=np.float64)
            if geom == p.GEOM_SPHERE:
                if not dims[0] > 0:
                    continue  # Laikago's zero-radius toe spheres
                points, radius = np.zeros((1, 3)), float(dims[0])
            elif geom == p.GEOM_CAPSULE:
                half = 0.5 * dims[0]
                points, radius = np.array([[0, 0, -half], [0, 0, half]], dtype=np.float64), float(dims[1])
            elif geom == p.GEOM_BOX:
                points, radius = _box_corners(dims), 0.0
            elif geom == p.GEOM_MESH:
                filename = data[4].decode() if isinstance(data[4], bytes) else str(data[4])
                if not Path(filename).is_file():
                    continue
                points, radius = _mesh_vertices(filename) * np.asarray(dims, dtype=np.float64), 0.0
            else:
                continue
            shapes.append(Shape(link, pos, orn, points, radius))
    return shapes


def character_shapes(character) -> list[Shape]:
    """Collision shapes of a :class:`awr_mimic.characters.Character` as pybullet loads it."""
    from awr_mimic.bullet import p, quiet_stdout

    with quiet_stdout():
        client = p.connect(p.DIRECT)
    try:
        body = character.load(client)
        return collision_shapes(client, body, character.skeleton.num_links)
    finally:
        p.disconnect(client)


def lowest_points(shapes: list[Shape], fk, base_pos, base_quat, up: int) -> np.ndarray:
    """Height of the lowest point of the body for each pose in a batch.

    fk: an FKResult of the poses (com_pos/com_quat (..., L, ...)); base_pos,
    base_quat: the base's inertial frame (..., 3)/(..., 4).
    """
    lowest = None
    for s in shapes:
        if s.link < 0:
            frame_pos, frame_quat = base_pos, base_quat
        else:
            frame_pos, frame_quat = fk.com_pos[..., s.link, :], fk.com_quat[..., s.link, :]
        shape_pos = frame_pos + quat.rotate(frame_quat, s.pos)
        shape_quat = quat.multiply(frame_quat, s.quat)
        pts = shape_pos[..., None, :] + quat.rotate(shape_quat[..., None, :], s.points)
        h = pts[..., up].min(axis=-1) - s.radius
        lowest = h if lowest is None else np.minimum(lowest, h)
    return lowest


def pose_fk(character, clip, times=None):
    """FK of the clip's key frames (or of `times`), and its base inertial frames."""
    sk = character.skeleton
    if times is None:  # the key frames as stored (sampling a wrapping clip at its end gives frame 0)
        root_pos, root_quat, joint_quats, joint_angles = clip.root_pos, clip.root_quat, clip.joint_quats, clip.joint_angles
    else:
        s = clip.sample(times)
        root_pos, root_quat, joint_quats, joint_angles = s.root_pos, s.root_quat, s.joint_quats, s.joint_angles
    fk = sk.forward_kinematics(root_pos, root_quat, clip.local_rotations(sk, joint_quats, joint_angles))
    base_pos = root_pos + quat.rotate(root_quat, sk.base_inertial_pos)
    base_quat = quat.multiply(root_quat, sk.base_inertial_quat)
    return fk, base_pos, base_quat


def clip_ground_clearance(character, clip, times=None, rate: float = 240.0) -> tuple[np.ndarray, np.ndarray]:
    """(times, height of the body's lowest point) over one pass of a clip."""
    if times is None:
        times = np.arange(0.0, clip.duration + 1e-9, 1.0 / rate)
    fk, base_pos, base_quat = pose_fk(character, clip, times)
    return times, lowest_points(character_shapes(character), fk, base_pos, base_quat, character.up_axis)
