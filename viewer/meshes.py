"""Per-link triangle meshes built from a pybullet body's shapes, for any character.

Each link gets one trimesh in its URDF link frame (the frame pybullet reports
as ``worldLinkFramePosition`` and our forward kinematics' ``frame_pos``), so
the same meshes can be posed from the simulation or from a reference motion.

Shapes come from ``getVisualShapeData`` (whose local frames are relative to the
URDF link frame); a link without visual shapes falls back to
``getCollisionShapeData`` (relative to the link's inertial frame). Degenerate
shapes (zero-radius spheres such as Laikago's toes, empty meshes) are skipped,
so no mesh ever carries NaN vertices.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from awr_mimic.anim import quat
from awr_mimic.characters.character import p, quiet_stdout

BASE = -1  # link index of the base in pybullet


@dataclass
class LinkMesh:
    link: int  # -1 = base
    name: str
    mesh: trimesh.Trimesh  # in the URDF link frame
    rgba: tuple[float, float, float, float]


def _transform(pos, quat_xyzw) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = quat.matrix(np.asarray(quat_xyzw, dtype=np.float64))
    t[:3, 3] = pos
    return t


def shape_mesh(geom: int, dims, filename: bytes | str, sphere_subdivisions: int = 2,
               sections: int = 16) -> trimesh.Trimesh | None:
    """One pybullet shape as a mesh in its own frame, or None if it is degenerate or unsupported.

    dims as pybullet reports them: sphere (radius, ...), capsule and cylinder
    (length, radius) along local z, box full extents, mesh scale.
    """
    dims = [float(d) for d in dims]
    if geom == p.GEOM_SPHERE:
        r = dims[0]
        return trimesh.creation.icosphere(subdivisions=sphere_subdivisions, radius=r) if r > 0 else None
    if geom == p.GEOM_CAPSULE:
        length, r = dims[0], dims[1]
        if r <= 0:
            return None
        if length <= 0:
            return trimesh.creation.icosphere(subdivisions=sphere_subdivisions, radius=r)
        return trimesh.creation.capsule(height=length, radius=r, count=[sections, sections])
    if geom == p.GEOM_CYLINDER:
        length, r = dims[0], dims[1]
        if r <= 0 or length <= 0:
            return None
        return trimesh.creation.cylinder(radius=r, height=length, sections=sections)
    if geom == p.GEOM_BOX:
        extents = np.array(dims[:3])
        return trimesh.creation.box(extents=extents) if np.all(extents > 0) else None
    if geom == p.GEOM_MESH:
        name = filename.decode() if isinstance(filename, bytes) else str(filename)
        path = Path(name)
        if not name or not path.is_file():
            return None
        try:
            loaded = trimesh.load(str(path), force="mesh", process=False, skip_materials=True)
        except Exception:  # an unreadable mesh file: draw nothing rather than fail the viewer
            return None
        if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
            return None
        mesh = trimesh.Trimesh(vertices=np.asarray(loaded.vertices, dtype=np.float64) * np.array(dims[:3]),
                               faces=np.asarray(loaded.faces), process=False)
        return mesh
    return None  # planes, heightfields


def _clean(mesh: trimesh.Trimesh) -> trimesh.Trimesh | None:
    v = np.asarray(mesh.vertices)
    if len(v) == 0 or len(mesh.faces) == 0 or not np.isfinite(v).all():
        return None
    return mesh


def build_link_meshes(client: int, body: int, source: str = "visual") -> dict[int, LinkMesh]:
    """{link index (-1 = base): LinkMesh} for every link that has at least one usable shape.

    source: "visual" (visual shapes, collision as fallback per link) or "collision".
    """
    if source not in ("visual", "collision"):
        raise ValueError(f"source must be 'visual' or 'collision', got {source!r}")
    num_links = p.getNumJoints(body, physicsClientId=client)
    names = {BASE: p.getBodyInfo(body, physicsClientId=client)[0].decode() or "base"}
    for j in range(num_links):
        names[j] = p.getJointInfo(body, j, physicsClientId=client)[12].decode()

    visual: dict[int, list] = {}
    if source == "visual":
        with quiet_stdout():
            data = p.getVisualShapeData(body, physicsClientId=client)
        for v in data:
            # (body, link, geom, dims, file, local pos, local orn, rgba, ...) relative to the link frame
            visual.setdefault(v[1], []).append((v[2], v[3], v[4], v[5], v[6], tuple(v[7])))

    out: dict[int, LinkMesh] = {}
    for link in range(-1, num_links):
        parts, rgba = [], None
        for geom, dims, fname, pos, orn, color in visual.get(link, []):
            mesh = shape_mesh(geom, dims, fname)
            if mesh is not None:
                mesh.apply_transform(_transform(pos, orn))
                parts.append(mesh)
                rgba = rgba or color
        if not parts:
            # collision frames are relative to the inertial frame: move them to the link frame
            dyn = p.getDynamicsInfo(body, link, physicsClientId=client)
            inertial = _transform(dyn[3], dyn[4])
            for c in p.getCollisionShapeData(body, link, physicsClientId=client):
                mesh = shape_mesh(c[2], c[3], c[4])
                if mesh is not None:
                    mesh.apply_transform(inertial @ _transform(c[5], c[6]))
                    parts.append(mesh)
        if not parts:
            continue
        mesh = _clean(trimesh.util.concatenate(parts) if len(parts) > 1 else parts[0])
        if mesh is None:
            continue
        out[link] = LinkMesh(link, names[link], mesh, tuple(rgba) if rgba else (1.0, 1.0, 1.0, 1.0))
    return out


def character_link_meshes(character, source: str = "visual") -> dict[int, LinkMesh]:
    """Meshes of a character, loaded into a throwaway pybullet client."""
    with quiet_stdout():
        client = p.connect(p.DIRECT)
    try:
        body = character.load(client)
        return build_link_meshes(client, body, source)
    finally:
        p.disconnect(client)


# ------------------------------------------------------------------ poses


@dataclass
class Pose:
    """World poses of the URDF frames of a body: base and every link (quaternions xyzw)."""

    base_pos: np.ndarray  # (3,)
    base_quat: np.ndarray  # (4,)
    link_pos: np.ndarray  # (L, 3)
    link_quat: np.ndarray  # (L, 4)

    def frame(self, link: int) -> tuple[np.ndarray, np.ndarray]:
        if link == BASE:
            return self.base_pos, self.base_quat
        return self.link_pos[link], self.link_quat[link]

    def offset(self, delta) -> "Pose":
        delta = np.asarray(delta, dtype=np.float64)
        return Pose(self.base_pos + delta, self.base_quat, self.link_pos + delta, self.link_quat)


def body_pose(client: int, body: int, skeleton) -> Pose:
    """The simulated body's URDF frames (the base's reported pose is its inertial frame)."""
    pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=client)
    base_quat = quat.multiply(np.array(orn), quat.conjugate(skeleton.base_inertial_quat))
    base_pos = np.array(pos) - quat.rotate(base_quat, skeleton.base_inertial_pos)
    n = skeleton.num_links
    states = p.getLinkStates(body, list(range(n)), computeForwardKinematics=1, physicsClientId=client)
    link_pos = np.array([s[4] for s in states], dtype=np.float64).reshape(n, 3)
    link_quat = np.array([s[5] for s in states], dtype=np.float64).reshape(n, 4)
    return Pose(base_pos, base_quat, link_pos, link_quat)


def clip_pose(character, clip, t: float) -> Pose:
    """The clip's pose at time t (looping clips keep their root displacement per cycle)."""
    s = clip.sample(t)
    skeleton = character.skeleton
    fk = skeleton.forward_kinematics(
        s.root_pos, s.root_quat, clip.local_rotations(skeleton, s.joint_quats, s.joint_angles)
    )
    return Pose(np.asarray(s.root_pos, dtype=np.float64), np.asarray(s.root_quat, dtype=np.float64),
                fk.frame_pos, fk.frame_quat)


def reference_pose(reference, t: float) -> Pose:
    """The env's reference (with its clip-to-world map) at time t."""
    s = reference.clip.sample(t)
    root_pos = quat.rotate(reference.yaw_quat, s.root_pos) + reference.translation
    root_quat = quat.multiply(reference.yaw_quat, s.root_quat)
    link_pos, link_quat = reference.link_frames(t)
    return Pose(np.asarray(root_pos, dtype=np.float64), np.asarray(root_quat, dtype=np.float64), link_pos, link_quat)
