"""K envs stepped together give exactly what K separate envs give."""
import numpy as np

import awr_mimic
from awr_mimic.envs.batch import MimicBatch


def test_batch_matches_separate_envs():
    phases = np.array([0.1, 0.45, 0.8])
    batch = MimicBatch(3, character="humanoid", clip="walk", early_termination=False)
    singles = [awr_mimic.make_env(character="humanoid", clip="walk", early_termination=False) for _ in phases]
    try:
        obs = batch.reset(np.arange(3), phases)
        for i, env in enumerate(singles):
            single_obs, _ = env.reset(options={"phase": float(phases[i])})
            assert np.array_equal(obs[i], single_obs)
        rng = np.random.default_rng(0)
        for _ in range(40):  # crosses a loop cycle, so the reference re-syncs too
            ref_actions = batch.reference_actions()
            # float32, as a policy's actions: both get exactly the same numbers
            actions = (ref_actions + rng.normal(0.0, 0.05, ref_actions.shape)).astype(np.float32)
            obs, rewards, terminated, truncated, info = batch.step(actions)
            for i, env in enumerate(singles):
                o, r, te, tr, inf = env.step(actions[i])
                assert np.allclose(obs[i], o, atol=1e-5)
                assert abs(rewards[i] - r) < 1e-6 and te == terminated[i] and tr == truncated[i]
                assert abs(info["joint_angle_error"][i] - inf["joint_angle_error"]) < 1e-6
        # envs step independently: only the listed ones advance
        before = batch.time.copy()
        batch.step(batch.reference_actions(np.array([1])), envs=np.array([1]))
        assert batch.time[1] > before[1] and batch.time[0] == before[0] and batch.time[2] == before[2]
    finally:
        batch.close()
        for env in singles:
            env.close()



def test_a_blown_up_simulation_ends_its_episode_with_finite_numbers():
    batch = MimicBatch(2, character="humanoid", clip="walk", early_termination=False)
    try:
        batch.reset(np.arange(2), np.array([0.2, 0.6]))
        world = batch.worlds[1]
        read = world.state_values
        world.state_values = lambda: [float("nan")] + read()[1:]  # env 1's root x is not a number
        obs, rewards, terminated, truncated, info = batch.step(batch.reference_actions())
        assert terminated.tolist() == [False, True] and info["fell"].tolist() == [False, True]
        assert not truncated.any()
        assert rewards[1] == 0.0 and np.all(info["reward_terms"][1] == 0.0) and np.all(obs[1] == 0.0)
        assert rewards[0] > 0.5 and np.all(np.isfinite(obs[0]))
    finally:
        batch.close()


def test_the_reference_follows_a_time_set_from_outside():
    """The reference is cached per env for the coming steps; a time set by hand is still honoured."""
    batch = MimicBatch(1, character="humanoid", clip="walk", early_termination=False)
    try:
        batch.reset(0, 0.1)
        batch.step(batch.reference_actions())
        batch.time[0] = 0.5 * batch.clip.duration
        batch.step(batch.reference_actions())
        expected = (0.5 * batch.clip.duration + batch.dt) / batch.clip.duration
        assert abs(batch.ref.phase[0] - expected) < 1e-12
    finally:
        batch.close()
