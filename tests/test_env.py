"""The imitation environment: FK against pybullet, reward terms, episodes, seeding, check_env."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import awr_mimic
from awr_mimic.anim import quat
from awr_mimic.envs.world import p
from awr_mimic.errors import ConfigError


@pytest.fixture(scope="module")
def walk_env():
    env = awr_mimic.make_env(character="humanoid", clip="walk")
    yield env
    env.close()


@pytest.mark.parametrize("clip_name", ["walk", "spinkick", "cartwheel", "getup_faceup"])
def test_forward_kinematics_matches_pybullet_within_1mm(clip_name):
    env = awr_mimic.make_env(character="humanoid", clip=clip_name)
    clip, skeleton, world = env.clip, env.character.skeleton, env.world
    try:
        for k in np.linspace(0, clip.num_frames - 1, 6).astype(int):
            world.set_state(clip.root_pos[k], clip.root_quat[k], np.zeros(3), np.zeros(3), clip.joint_quats[k],
                            clip.joint_angles[k], np.zeros((len(clip.joint_quats[k]), 3)),
                            np.zeros(len(clip.joint_angles[k])))
            fk = skeleton.forward_kinematics(clip.root_pos[k], clip.root_quat[k],
                                             clip.local_rotations(skeleton, clip.joint_quats[k], clip.joint_angles[k]))
            states = p.getLinkStates(world.body, list(range(skeleton.num_links)), computeForwardKinematics=1,
                                     physicsClientId=world.client)
            com = np.array([s[0] for s in states])
            frame = np.array([s[4] for s in states])
            frame_quat = np.array([s[5] for s in states])
            assert np.abs(fk.com_pos - com).max() < 1e-3
            assert np.abs(fk.frame_pos - frame).max() < 1e-3
            assert quat.angle_between(fk.frame_quat, frame_quat).max() < 1e-3
            masses = np.array([p.getDynamicsInfo(world.body, i, physicsClientId=world.client)[0]
                               for i in range(-1, skeleton.num_links)])
            body_com = (masses[0] * np.array(p.getBasePositionAndOrientation(world.body, physicsClientId=world.client)[0])
                        + masses[1:] @ com) / masses.sum()
            assert np.abs(fk.body_com - body_com).max() < 1e-3
    finally:
        env.close()


def test_humanoid_model(walk_env):
    skeleton = walk_env.character.skeleton
    assert skeleton.num_links == 15
    assert skeleton.total_mass == pytest.approx(45.0, abs=0.01)
    assert walk_env.action_space.shape == (28,)
    assert walk_env.observation_space.shape == (197,)
    assert walk_env.observation_space.dtype == np.float32
    assert walk_env.sim_hz == 240 and walk_env.control_hz == 30 and walk_env.substeps == 8


@pytest.mark.parametrize("character", ["humanoid", "dog"])
def test_every_link_has_deepmimic_friction(character):
    # DeepMimic gives the character and the ground a friction of 0.9 (pybullet multiplies them).
    # A changeDynamics call on a link that also sets damping drops the friction silently, which
    # left every link at the URDF's 0.5 until 2026-12-03.
    env = awr_mimic.make_env(character=character)
    try:
        world = env.batch.worlds[0]
        frictions = [p.getDynamicsInfo(world.body, link, physicsClientId=world.client)[1]
                     for link in range(-1, world.num_links)]
        assert frictions == [pytest.approx(0.9)] * (world.num_links + 1)
        assert p.getDynamicsInfo(world.ground, -1, physicsClientId=world.client)[1] == pytest.approx(0.9)
    finally:
        env.close()


def test_reward_terms_are_one_at_the_reference_and_fall_with_error(walk_env):
    walk_env.reset(seed=3)
    batch = walk_env.batch
    sim, ref = batch.sim, batch.ref  # just reset onto the reference
    to_heading = quat.inverse_heading_batch(sim.root_quat, 1)[0]
    com_vel = batch.com_vel(sim)
    ee_rel = batch.end_effectors_rel(sim, to_heading)
    reward, terms, tracking = batch.reward_fn(sim, ref, ee_rel, com_vel)
    assert np.allclose(terms, 1.0, atol=1e-3) and reward[0] == pytest.approx(1.0, abs=1e-3)
    assert tracking["joint_angle_error"][0] < 1e-3 and tracking["end_effector_error"][0] < 1e-3

    lay = batch.layout

    def perturbed(scale):
        flat = sim.flat.copy()
        quats = flat[:, lay.quats].reshape(1, -1, 4)
        quats[:, 1:] = quat.multiply(quats[:, 1:], quat.from_axis_angle(np.array([0.0, 0.0, 1.0]), scale))
        flat[:, lay.quats] = quats.reshape(1, -1)
        flat[:, lay.ang_vels] += scale
        flat[:, lay.root_pos] += scale * 0.1
        s = batch.worlds[0].batch_views(flat)
        return batch.reward_fn(s, ref, ee_rel + np.array([scale * 0.1, 0, 0]), com_vel + scale)

    previous = terms[0]
    for scale in (0.05, 0.2, 0.5):
        _, t, _ = perturbed(scale)
        assert np.all(t[0] < previous), scale
        previous = t[0]


def test_reward_is_computed_after_the_action(walk_env):
    rewards = []
    for action in (walk_env.reference_action, lambda: walk_env.action_space.high):
        walk_env.reset(seed=7)
        _, r, _, _, info = walk_env.step(action())
        rewards.append(r)
    assert rewards[0] > rewards[1] + 0.05  # the first step's reward already sees the action


def test_reference_tracking_check():
    """PD tracking of the reference from RSI: the reward, reference and control agree."""
    for clip_name, floor in (("walk", 0.8), ("spinkick", 0.6)):
        env = awr_mimic.make_env(character="humanoid", clip=clip_name)
        means = []
        for seed in range(5):
            env.reset(seed=seed)
            rewards = []
            for _ in range(10):
                _, r, terminated, _, _ = env.step(env.reference_action())
                rewards.append(r)
                if terminated:
                    break
            means.append(np.mean(rewards))
        env.close()
        assert np.mean(means) >= floor, (clip_name, means)


def test_seeded_resets_are_reproducible(walk_env):
    runs = []
    for _ in range(2):
        obs, _ = walk_env.reset(seed=123)
        walk_env.action_space.seed(5)
        trace = [obs]
        for _ in range(5):
            trace.append(walk_env.step(walk_env.action_space.sample())[0])
        runs.append(np.array(trace))
    assert np.array_equal(runs[0], runs[1])
    other, _ = walk_env.reset(seed=124)
    assert not np.array_equal(other, runs[0][0])


def test_fixed_start_phase():
    env = awr_mimic.make_env(character="humanoid", clip="walk", start_phase=0.0)
    obs, info = env.reset(seed=1)
    assert info["phase"] == 0.0 and obs[0] == 0.0
    obs, info = env.reset(options={"phase": 0.5})
    assert obs[0] == pytest.approx(0.5)
    env.close()


def test_early_termination_on_forbidden_contact():
    env = awr_mimic.make_env(character="humanoid", clip="walk")
    env.reset(seed=0)
    # lay the character on its back: the trunk touches the ground
    lying = quat.from_axis_angle(np.array([0.0, 0.0, 1.0]), np.pi / 2)
    p.resetBasePositionAndOrientation(env.world.body, [0, 0.2, 0], lying.tolist(), physicsClientId=env.world.client)
    _, _, terminated, truncated, info = env.step(env.reference_action())
    assert terminated and not truncated and info["fell"]
    env.close()
    # with early termination off the same fall does not end the episode
    env = awr_mimic.make_env(character="humanoid", clip="walk", early_termination=False)
    env.reset(seed=0)
    p.resetBasePositionAndOrientation(env.world.body, [0, 0.2, 0], lying.tolist(), physicsClientId=env.world.client)
    assert not env.step(env.reference_action())[2]
    env.close()


def test_time_limit_truncates():
    env = awr_mimic.make_env(character="humanoid", clip="walk", time_limit=0.5, early_termination=False)
    env.reset(seed=0)
    steps = 0
    while True:
        _, _, terminated, truncated, _ = env.step(env.reference_action())
        steps += 1
        if terminated or truncated:
            break
    assert truncated and not terminated and steps == 15 and env.horizon_steps == 15
    env.close()


def test_non_looping_clip_ends_the_episode():
    env = awr_mimic.make_env(character="humanoid", clip="kick", start_phase=0.9, early_termination=False)
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.reference_action())
        steps += 1
        done = terminated or truncated
    assert terminated and steps == int(np.ceil(0.1 * env.clip.duration * 30 - 1e-9))
    assert env.horizon_steps == int(np.ceil(env.clip.duration * 30 - 1e-9))
    env.close()


def test_reference_is_synced_to_the_character_each_cycle():
    env = awr_mimic.make_env(character="humanoid", clip="run", start_phase=0.0, early_termination=False)
    env.reset(seed=0)
    zero = np.zeros(env.action_space.shape, np.float32)
    cycles, gaps = 0, []
    while cycles < 3:
        env.step(zero)  # the character falls and stays behind; the reference runs on
        ref, sim = env.batch.ref, env.batch.sim
        if ref.cycle[0] != cycles:
            cycles = ref.cycle[0]
            gap = (ref.root_pos[0] - sim.root_pos[0])[[0, 2]]
            gaps.append(np.linalg.norm(gap))
            heading_gap = quat.heading(ref.root_quat[0], 1) - quat.heading(sim.root_quat[0], 1)
            assert abs(np.angle(np.exp(1j * heading_gap))) < 1e-6
    assert max(gaps) < 0.2  # run moves 2.8 m per cycle: without the sync the gap would grow by that much
    env.close()


def test_gymnasium_make_and_check_env():
    env = gym.make(awr_mimic.ENV_ID, character="humanoid", clip="spinkick")
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    env.close()


@pytest.mark.parametrize(
    "options, message",
    [({"sim_hz": 100}, "sim_hz"), ({"control_hz": 0}, "control_hz"), ({"time_limit": -1}, "time_limit"),
     ({"start_phase": 2.0}, "start_phase")],
)
def test_bad_options_raise_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        awr_mimic.make_env(character="humanoid", clip="walk", **options)
