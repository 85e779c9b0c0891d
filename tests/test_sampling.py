import numpy as np
import pytest

import test_learning_tasks as tasks
from awr_mimic.errors import AwrMimicError
from awr_mimic.learning.awr import AWR, policy_kwargs
from awr_mimic.learning.config import preset
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.sampling import LocalSampler, PathBatch

CFG = preset("gym").replace(actor_hidden=(16,))
PK = policy_kwargs(CFG)


def _weights(space, seed=0):
    return AWR(space, CFG.replace(seed=seed)).policy_weights()


def _equal(a: PathBatch, b: PathBatch):
    for k in ("obs", "actions", "rewards", "lengths", "terminated", "truncated", "final_obs"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


def test_same_seed_and_workers_give_identical_samples():
    spec = EnvSpec("CartPole-v1")
    runs = []
    for _ in range(2):
        with LocalSampler(spec, PK, seed=7, workers=2) as s:
            s.set_weights(_weights(s.space))
            runs.append([s.sample(300), s.sample(300)])
    _equal(runs[0][0], runs[1][0])
    _equal(runs[0][1], runs[1][1])
    a = runs[0][0]
    assert a.num_samples >= 300 and np.all(a.terminated | a.truncated)
    # consecutive calls differ (new seeds per call), and each worker returned whole paths
    assert not np.array_equal(runs[0][0].obs[:50], runs[0][1].obs[:50])


def test_a_resumed_sampler_repeats_the_call():
    spec = EnvSpec("CartPole-v1")
    with LocalSampler(spec, PK, seed=3, workers=0) as s:
        s.set_weights(_weights(s.space))
        s.sample(100)
        state = s.state_dict()
        second = s.sample(100)
    with LocalSampler(spec, PK, seed=3, workers=0) as s:
        s.set_weights(_weights(s.space))
        s.load_state_dict(state)
        _equal(s.sample(100), second)


def test_each_worker_collects_its_share_of_whole_paths():
    with LocalSampler(EnvSpec(tasks.CHAIN), PK, seed=0, workers=2) as s:
        s.set_weights(_weights(s.space))
        b = s.sample(200)
    assert b.num_samples >= 200
    assert np.all(b.lengths <= 8) and np.all(b.terminated | b.truncated)
    assert not np.any(b.terminated & b.truncated)
    # normalised return = return / horizon_steps when the env has a horizon
    np.testing.assert_allclose(b.normalized_returns, b.returns / 8)
    np.testing.assert_array_equal(b.final_obs.shape, (b.num_paths, 3))


def test_evaluation_does_not_depend_on_the_worker_count():
    spec = EnvSpec(tasks.TARGET)
    results = []
    for workers in (0, 2):
        with LocalSampler(spec, PK, seed=1, workers=workers) as s:
            s.set_weights(_weights(s.space))
            results.append(s.evaluate(5))
    _equal(*results)
    assert "reward_target" in results[0].info_means() and "joint_angle_error" in results[0].stats()


def test_random_mode_covers_the_action_box():
    with LocalSampler(EnvSpec(tasks.TARGET), None, seed=0, workers=0) as s:
        b = s.sample(500, mode="random")
    assert b.actions.min() < -0.9 and b.actions.max() > 0.9 and np.all(np.abs(b.actions) <= 1)


def test_unknown_env_fails_with_one_line():
    with pytest.raises(AwrMimicError, match="cannot make env 'NoSuchEnv-v0'"):
        LocalSampler(EnvSpec("NoSuchEnv-v0"), PK, seed=0, workers=1)
