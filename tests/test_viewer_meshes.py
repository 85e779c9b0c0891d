"""Per-link meshes built from pybullet shapes, and the poses that place them."""
from __future__ import annotations

import numpy as np
import pybullet_data
import pytest

from awr_mimic.anim import quat
from awr_mimic.characters import character_files, get_character
from awr_mimic.envs.world import p
from awr_mimic_viewer.meshes import (BASE, body_pose, build_link_meshes, character_link_meshes, clip_pose,
                                     reference_pose, shape_mesh)


def world_vertices(mesh, pos, q):
    return np.asarray(mesh.vertices) @ quat.matrix(q).T + pos


@pytest.fixture(scope="module")
def humanoid_env():
    import awr_mimic

    env = awr_mimic.make_env("humanoid", "spinkick")
    env.reset(seed=3)
    for _ in range(5):
        env.step(env.reference_action())
    yield env
    env.close()


def test_humanoid_has_15_sound_link_meshes(humanoid_env):
    env = humanoid_env
    meshes = build_link_meshes(env.world.client, env.world.body)
    assert sorted(meshes) == list(range(15))  # the dummy base has no shape
    assert [meshes[i].name for i in range(15)] == list(env.character.skeleton.link_names)
    for lm in meshes.values():
        v = np.asarray(lm.mesh.vertices)
        assert len(lm.mesh.faces) >= 12  # a box has 12
        assert np.isfinite(v).all()
        assert (lm.mesh.extents > 0.02).all(), lm.name
        assert lm.mesh.volume > 1e-5, lm.name


def test_humanoid_meshes_sit_on_the_collision_shapes(humanoid_env):
    """Each posed mesh lies inside pybullet's AABB of the link, and spheres and boxes match it exactly."""
    env = humanoid_env
    client, body = env.world.client, env.world.body
    meshes = build_link_meshes(client, body)
    pose = body_pose(client, body, env.character.skeleton)
    for link, lm in meshes.items():
        pos, q = pose.frame(link)
        v = world_vertices(lm.mesh, pos, q)
        lo, hi = (np.array(a) for a in p.getAABB(body, link, physicsClientId=client))
        assert (v.min(0) >= lo - 2e-3).all() and (v.max(0) <= hi + 2e-3).all(), lm.name
        geom = p.getCollisionShapeData(body, link, physicsClientId=client)[0][2]
        if geom in (p.GEOM_SPHERE, p.GEOM_BOX):
            assert np.abs(v.min(0) - lo).max() < 0.01 and np.abs(v.max(0) - hi).max() < 0.01, lm.name
        com = np.array(p.getLinkState(body, link, physicsClientId=client)[0])
        assert (com >= v.min(0) - 1e-6).all() and (com <= v.max(0) + 1e-6).all(), lm.name


def test_reference_and_clip_poses_match_the_simulation_at_reset():
    import awr_mimic

    env = awr_mimic.make_env("humanoid", "walk")
    try:
        env.reset(seed=0)
        sim = body_pose(env.world.client, env.world.body, env.character.skeleton)
        ref = reference_pose(env.reference, env.time)
        clip = clip_pose(env.character, env.clip, env.time)
        for other in (ref, clip):
            assert np.abs(other.link_pos - sim.link_pos).max() < 1e-5
            assert np.abs(np.abs(np.sum(other.link_quat * sim.link_quat, axis=1)) - 1).max() < 1e-6
            assert np.abs(other.base_pos - sim.base_pos).max() < 1e-6
    finally:
        env.close()


def test_laikago_meshes_skip_zero_radius_spheres():
    client = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(pybullet_data.getDataPath() + "/laikago/laikago_toes.urdf", [0, 0, 0.5],
                          flags=p.URDF_MAINTAIN_LINK_ORDER, physicsClientId=client)
        meshes = build_link_meshes(client, body)
        assert BASE in meshes  # the chassis is the base
        assert len(meshes) == p.getNumJoints(body, physicsClientId=client) + 1
        for lm in meshes.values():
            assert np.isfinite(lm.mesh.vertices).all() and len(lm.mesh.faces) > 0
    finally:
        p.disconnect(client)


def test_degenerate_shapes_give_no_mesh():
    assert shape_mesh(p.GEOM_SPHERE, (0.0, 0, 0), b"") is None
    assert shape_mesh(p.GEOM_CAPSULE, (0.3, 0.0, 0), b"") is None
    assert shape_mesh(p.GEOM_BOX, (0.1, 0.0, 0.1), b"") is None
    assert shape_mesh(p.GEOM_MESH, (1, 1, 1), b"/no/such/file.obj") is None
    capsule = shape_mesh(p.GEOM_CAPSULE, (0.3, 0.05, 0), b"")
    assert np.allclose(capsule.bounds, [[-0.05, -0.05, -0.2], [0.05, 0.05, 0.2]], atol=1e-6)


@pytest.mark.parametrize("name", sorted(character_files()))
def test_every_character_meshes_without_nan(name):
    meshes = character_link_meshes(get_character(name))
    assert meshes
    for lm in meshes.values():
        assert np.isfinite(lm.mesh.vertices).all() and len(lm.mesh.faces) > 0, lm.name
