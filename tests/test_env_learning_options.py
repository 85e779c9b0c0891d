"""Env options that make imitation learnable: target observations, residual actions, drift termination."""
import numpy as np
import pytest

import awr_mimic
from awr_mimic.anim import quat
from awr_mimic.envs.batch import MimicBatch
from awr_mimic.errors import ConfigError

# humanoid: 8 spherical joints, 4 revolute, 4 end effectors
FRAME = 3 + 4 + 4 * 8 + 4 + 3 * 4


def _canonical(q):
    return q * np.sign(q[..., 3:4] + 1e-300)


def test_target_observation_layout_and_values_at_known_phases():
    env = awr_mimic.make_env(character="humanoid", clip="walk", target_obs_steps=[1, 2, 3])
    try:
        assert env.observation_space.shape == (197 + 3 * FRAME,)
        clip, dt = env.clip, env.dt
        for phase in (0.0, 0.37, 0.81):
            obs, _ = env.reset(options={"phase": phase})
            t = phase * clip.duration
            base = env.batch.sim.root_pos[0]
            heading = quat.heading(env.batch.sim.root_quat[0], env.up_axis)
            to_heading = quat.yaw_quat(-heading, env.up_axis)
            for block, j in enumerate((1, 2, 3)):
                f = obs[197 + block * FRAME: 197 + (block + 1) * FRAME]
                s = clip.sample(t + j * dt)
                # root position relative to the simulated root in its heading frame, absolute height
                expect = quat.rotate(to_heading, s.root_pos - base)
                expect[env.up_axis] = s.root_pos[env.up_axis]
                np.testing.assert_allclose(f[:3], expect, atol=1e-5)
                np.testing.assert_allclose(f[3:7], _canonical(quat.multiply(to_heading, s.root_quat)), atol=1e-5)
                np.testing.assert_allclose(f[7:39].reshape(8, 4), _canonical(s.joint_quats), atol=1e-5)
                np.testing.assert_allclose(f[39:43], s.joint_angles, atol=1e-5)
            # the first block leads the second: the walk moves forward
            assert obs[197 + FRAME] > obs[197]
    finally:
        env.close()


def test_residual_zero_output_gives_the_reference_targets():
    absolute = MimicBatch(3, "humanoid", "spinkick")
    residual = MimicBatch(3, "humanoid", "spinkick", action_mode="residual")
    try:
        phases = np.array([0.05, 0.5, 0.93])
        absolute.reset(np.arange(3), phases)
        residual.reset(np.arange(3), phases)
        envs = np.arange(3)
        for _ in range(5):
            ref_action = absolute.reference_actions()
            q_abs, a_abs = absolute.pd_targets(ref_action, envs)
            zero = np.zeros_like(ref_action)
            assert np.array_equal(residual.reference_actions(), zero)
            q_res, a_res = residual.pd_targets(zero, envs)
            assert quat.angle_between(q_abs, q_res).max() < 1e-6
            np.testing.assert_allclose(a_res, a_abs, atol=1e-9)
            o1, r1, *_ = absolute.step(ref_action)
            o2, r2, *_ = residual.step(zero)
            np.testing.assert_allclose(r1, r2, atol=1e-6)
        # a non-zero offset turns the target away from the reference by that angle
        offset = np.zeros((3, len(absolute.action_low)))
        offset[:, residual.sph_action[:3]] = [0.3, 0.0, 0.0]
        q_off, _ = residual.pd_targets(offset, envs)
        q_ref, _ = residual.pd_targets(np.zeros_like(offset), envs)
        np.testing.assert_allclose(quat.angle_between(q_off[:, 0], q_ref[:, 0]), 0.3, atol=1e-6)
    finally:
        absolute.close()
        residual.close()


def test_drift_termination_applies_in_training_only():
    b = MimicBatch(1, "humanoid", "walk", pose_termination=1.0)
    try:
        for training, expect in ((True, True), (False, False)):
            b.training = training
            b.reset(0, 0.2)
            b.step(b.reference_actions())
            # move the reference 1.5 m away: the next step is further than 1 m from it
            b.ref_translation[0] += [1.5, 0.0, 0.0]
            _, _, terminated, _, info = b.step(b.reference_actions())
            assert bool(terminated[0]) is expect and bool(info["fell"][0]) is expect
        # close to the reference nothing ends (open-loop tracking stays within 0.2 m for 5 steps)
        b.training = True
        b.reset(0, 0.2)
        for _ in range(5):
            _, _, terminated, _, _ = b.step(b.reference_actions())
            assert not terminated[0]
    finally:
        b.close()


def test_evaluation_episodes_ignore_drift_termination():
    from awr_mimic.learning.envspec import EnvSpec
    from awr_mimic.sampling.batch_rollout import BatchRollout

    spec = EnvSpec(awr_mimic.ENV_ID, {"character": "humanoid", "clip": "walk", "pose_termination": 0.01})
    rollout = BatchRollout(spec, None, seed=0, index=0, num_envs=2)
    try:
        train = rollout.run(20, call=0, mode="random")
        evaluation = rollout.run_episodes([0, 1], mode="random")
        # 1 cm: training episodes end at the first step; evaluation runs until the character falls
        assert train.lengths.max() == 1
        assert evaluation.lengths.min() > 1
    finally:
        rollout.close()


@pytest.mark.parametrize("action_mode", ["residual", "absolute"])
def test_reference_pd_velocities_are_the_reference_joint_velocities_at_the_next_step(action_mode):
    b = MimicBatch(2, "humanoid", "spinkick", action_mode=action_mode, pd_target_velocity="reference")
    try:
        b.reset(np.arange(2), np.array([0.3, 0.55]))
        for _ in range(3):
            times = b.time.copy()
            b.step(b.reference_actions())
            for i, world in enumerate(b.worlds):
                s = b.clip.sample(times[i] + b.dt)
                sph = iter(s.joint_ang_vels.tolist())
                rev = iter(s.joint_angle_vels.tolist())
                expect = [next(sph) if spherical else [next(rev)] for spherical in world.is_spherical]
                np.testing.assert_allclose(np.concatenate(world._target_vel), np.concatenate(expect), atol=1e-9)
                assert np.abs(np.concatenate(expect)).max() > 1.0  # the kick moves: not a trivial zero
    finally:
        b.close()


def test_reference_pd_velocities_track_the_kick_closer_open_loop():
    """Zero targets damp the kick's fast joints towards rest; the reference's velocities do not."""
    velocity_term = {}
    for mode in ("zero", "reference"):
        b = MimicBatch(1, "humanoid", "spinkick", action_mode="residual", pd_target_velocity=mode)
        try:
            terms = []
            for phase in (0.1, 0.5, 0.8):
                b.reset(0, phase)
                for _ in range(4):
                    _, _, _, _, info = b.step(np.zeros((1, len(b.action_low))))
                    terms.append(info["reward_terms"][0])
            velocity_term[mode] = np.mean(terms, axis=0)[1]  # pose, velocity, end effector, root, COM
        finally:
            b.close()
    assert velocity_term["reference"] > velocity_term["zero"] + 0.05


@pytest.mark.parametrize("options, message", [
    ({"pd_target_velocity": "ref"}, "did you mean 'reference'"),
    ({"action_mode": "residul"}, "did you mean 'residual'"),
    ({"target_obs_steps": [0, 1]}, "target_obs_steps must be distinct positive"),
    ({"target_obs_steps": "x"}, "target_obs_steps must be distinct positive"),
    ({"pose_termination": -1.0}, "pose_termination must be a positive distance"),
])
def test_bad_learning_options_are_one_line_errors(options, message):
    with pytest.raises(ConfigError, match=message) as err:
        awr_mimic.make_env(character="humanoid", clip="walk", **options)
    assert "\n" not in str(err.value)
