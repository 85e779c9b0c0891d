import math

import numpy as np
import pytest
import torch

from awr_mimic.learning.awr import AWR, awr_weights
from awr_mimic.learning.config import preset
from awr_mimic.learning.networks import Policy, SpaceInfo
from awr_mimic.learning.normalizer import RunningNormalizer
from awr_mimic.sampling.base import PathBatch

BOX = SpaceInfo(obs_dim=3, discrete=False, act_dim=2, low=(-2.0, -1.0), high=(2.0, 3.0))


def _batch(lengths, terminated, obs_dim=3, act_dim=2, seed=0, rewards=None):
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    return PathBatch(
        obs=rng.normal(size=(n, obs_dim)).astype(np.float32), actions=rng.normal(size=(n, act_dim)).astype(np.float32),
        rewards=(np.ones(n) if rewards is None else np.asarray(rewards)).astype(np.float32),
        lengths=np.asarray(lengths), terminated=np.asarray(terminated), truncated=~np.asarray(terminated),
        final_obs=rng.normal(size=(len(lengths), obs_dim)).astype(np.float32),
        returns=np.zeros(len(lengths)), normalized_returns=np.zeros(len(lengths)))


def test_weights_are_normalised_then_clipped():
    adv = np.array([0.0, 1.0, 2.0, 3.0, 100.0])
    w, stats = awr_weights(adv, beta=1.0, max_weight=5.0)
    norm = (adv - adv.mean()) / (adv.std() + 1e-5)
    np.testing.assert_allclose(w, np.minimum(np.exp(norm), 5.0), rtol=1e-6)
    assert w.max() == 5.0 and stats["weight_clipped"] == pytest.approx(0.2)
    # invariant to the reward scale: that is what normalising is for
    np.testing.assert_allclose(awr_weights(adv * 1000 + 7, 1.0, 5.0)[0], w, rtol=1e-5)
    # a higher temperature flattens the weights
    assert awr_weights(adv, beta=10.0, max_weight=5.0)[0].std() < w.std()


def test_normaliser_freezes_after_max_samples():
    n = RunningNormalizer(2, max_samples=100, std_floor=0.02)
    rng = np.random.default_rng(0)
    a = rng.normal(3.0, 2.0, size=(60, 2))
    b = rng.normal(3.0, 2.0, size=(60, 2))
    n.update(a)
    assert not n.frozen
    n.update(b)  # only the first 40 rows of b count
    assert n.frozen and n.count == 100
    both = np.concatenate([a, b[:40]])
    np.testing.assert_allclose(n.mean, both.mean(0))
    np.testing.assert_allclose(n.std, both.std(0))
    mean = n.mean.copy()
    n.update(rng.normal(100.0, 1.0, size=(50, 2)))
    np.testing.assert_array_equal(n.mean, mean)
    c = RunningNormalizer(1, 10, std_floor=0.5)
    c.update(np.ones((5, 1)))
    assert c.std[0] == 0.5  # floor for constant features


def test_action_mapping_and_bound_penalty():
    a = np.array([1.0, -1.0], np.float32)
    np.testing.assert_allclose(BOX.to_env_action(a), [2.0, -1.0])
    np.testing.assert_allclose(BOX.to_env_action(np.array([0.0, 0.0])), [0.0, 1.0])
    np.testing.assert_allclose(BOX.to_env_action(np.array([5.0, -5.0])), [2.0, -1.0])  # clipped
    np.testing.assert_allclose(BOX.from_env_action(np.array([1.0, 2.0])), [0.5, 0.5])
    pol = Policy(BOX, (8,), action_std=0.1)
    out = torch.tensor([[1.5, -3.0], [0.5, 0.0]])
    # 10 x squared excess is applied by the learner; the policy reports the mean squared excess
    assert pol.bound_loss_from_output(out).item() == pytest.approx((0.25 + 4.0) / 2)
    lp = pol.log_prob_from_output(torch.zeros(1, 2), torch.tensor([[0.1, 0.0]]))
    assert lp.item() == pytest.approx(-0.5 - 2 * (math.log(0.1) + 0.5 * math.log(2 * math.pi)), rel=1e-5)


def test_returns_over_buffer_zero_on_failure_bootstrap_on_truncation():
    cfg = preset("gym").replace(gamma=0.5, td_lambda=1.0, buffer_size=100, seed=0)
    algo = AWR(BOX, cfg)
    algo.add_batch(_batch([2, 2], [True, False]))
    buf = algo.buffer
    ix = buf.index()
    buf.val[:] = 0.0
    buf.val[ix["end_rows"]] = 10.0  # V(s_T) = 10 for both finals
    ret = algo.returns()
    np.testing.assert_allclose(ret, [1 + 0.5 * 1, 1, 1 + 0.5 + 0.25 * 10, 1 + 0.5 * 10])


def test_on_policy_ablation_keeps_only_the_last_batch():
    cfg = preset("gym").replace(on_policy=True, buffer_size=100)
    algo = AWR(BOX, cfg)
    algo.add_batch(_batch([3, 4], [False, False]))
    algo.add_batch(_batch([5], [True], seed=1))
    assert len(algo.buffer) == 5 and algo.buffer.num_paths == 1


def test_update_takes_scaled_steps_and_changes_both_nets():
    cfg = preset("gym").replace(actor_steps=10, critic_steps=4, samples_per_iter=20, buffer_size=200,
                                actor_batch_size=8, critic_batch_size=8)
    algo = AWR(BOX, cfg)
    a0 = [p.clone() for p in algo.actor.net.parameters()]
    c0 = [p.clone() for p in algo.critic.net.parameters()]
    algo.add_batch(_batch([10, 10, 20], [True, False, False], rewards=np.linspace(0, 1, 40)))
    stats = algo.update(new_samples=40)  # twice samples_per_iter -> twice the steps
    assert algo.actor_updates == 20 and algo.critic_updates == 8
    assert all(not torch.equal(a, b) for a, b in zip(a0, algo.actor.net.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(c0, algo.critic.net.parameters()))
    assert stats["buffer_samples"] == 40 and np.isfinite(stats["critic_loss"])


def test_no_baseline_ablation_weights_by_returns():
    cfg = preset("gym").replace(use_baseline=False, actor_steps=1, critic_steps=1, buffer_size=100)
    algo = AWR(BOX, cfg)
    algo.add_batch(_batch([4], [True], rewards=[0, 0, 0, 1]))
    stats = algo.update(4)
    ret = algo.returns()
    assert stats["adv_mean"] == pytest.approx(ret.mean(), rel=1e-5)


def test_partial_value_refresh_touches_new_rows_and_a_rotating_window():
    cfg = preset("gym").replace(value_refresh_fraction=0.25, buffer_size=40, actor_steps=1, critic_steps=1)
    algo = AWR(BOX, cfg)
    algo.add_batch(_batch([9, 9, 9, 9], [False] * 4))  # rows 0..39
    algo.update(36)
    assert algo.buffer.refresh_ptr == 10
    algo.buffer.val[:] = 123.0
    algo.add_batch(_batch([4], [False], seed=3))  # wraps to rows 0-4
    algo.update(4)
    # pass 2 refreshes rows 10..19 (window) plus the new rows 0..4; the rest keep stale values
    val = algo.buffer.val
    assert np.all(val[0:5] != 123.0) and np.all(val[10:20] != 123.0)
    assert np.all(val[20:40] == 123.0)


def test_awr_learns_a_simple_continuous_task():
    """Target task: the best action is the observation itself. Error must drop a lot."""
    import test_learning_tasks as tasks  # noqa: F401  (registers the env in this process)

    from awr_mimic.learning.trainer import Trainer

    cfg = {"samples_per_iter": 256, "actor_steps": 100, "critic_steps": 50, "actor_lr": 1e-3,
           "optimizer": "adam", "critic_lr": 1e-3, "eval_every": 0, "hidden": (32, 32), "action_std": 0.3}
    with Trainer("awr", env=tasks.TARGET, seed=0, workers=0, config=cfg) as t:
        before = t.evaluate(50)
        t.train(iterations=15)
        after = t.evaluate(50)
    assert after["joint_angle_error"] < 0.5 * before["joint_angle_error"]
    assert after["mean_reward"] > 0.95


def test_normalised_observations_are_clipped_for_actor_and_critic():
    import torch

    from awr_mimic.learning.awr import AWR
    from awr_mimic.learning.config import AWRConfig
    from awr_mimic.learning.networks import SpaceInfo

    space = SpaceInfo(obs_dim=3, discrete=False, act_dim=2, low=(-1.0, -1.0), high=(1.0, 1.0))
    awr = AWR(space, AWRConfig(actor_hidden=(8,), critic_hidden=(8,)))
    obs = torch.tensor([[1e4, -1e4, 0.5]])
    assert torch.equal(awr.actor.obs_norm(obs), torch.tensor([[10.0, -10.0, 0.5]]))
    # a state far outside the clip gives the same outputs as one on its edge
    edge = torch.tensor([[10.0, -10.0, 0.5]])
    assert torch.equal(awr.actor(obs), awr.actor(edge)) and torch.equal(awr.critic(obs), awr.critic(edge))
    # 0 disables it; workers build their policy with the same clip
    off = AWR(space, AWRConfig(actor_hidden=(8,), critic_hidden=(8,), obs_clip=0.0))
    assert off.actor.obs_norm(obs)[0, 0] == 1e4
    from awr_mimic.learning.awr import policy_kwargs
    assert policy_kwargs(AWRConfig())["obs_clip"] == 10.0
