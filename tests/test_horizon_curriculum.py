"""DeepMimic's horizon curriculum: training episodes capped at an annealed time, evaluation never."""

import numpy as np
import pytest
import torch

import awr_mimic
from awr_mimic import Trainer
from awr_mimic.errors import ConfigError
from awr_mimic.learning.config import AWRConfig
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.learning.trainer import horizon_cap
from test_trainer import _csv as _rows  # progress.csv rows without the wall-clock columns

WALK = {"character": "humanoid", "clip": "walk", "action_mode": "residual"}  # residual: episodes can last
TINY = {"hidden": (16,), "actor_steps": 5, "critic_steps": 5, "eval_every": 0, "envs_per_worker": 2,
        "buffer_size": 5000, "normalizer_samples": 1000}
CAP_STEPS = 15  # ceil(0.5 s * 30 Hz)


def _zero_policy(weights):
    """Weights with every layer zeroed: mean action 0, i.e. the reference's PD targets (residual)."""
    return {k: np.zeros_like(v) if k.startswith("net.") else v for k, v in weights.items()}


def _check_capped(batch):
    """No path longer than the cap; those it ended are truncated (bootstrapped), the others fell."""
    assert batch.lengths.max() <= CAP_STEPS and batch.truncated.any()
    assert (batch.lengths[batch.truncated] == CAP_STEPS).all()
    assert (batch.truncated ^ batch.terminated).all()  # a fall at the cap's step stays a failure




def test_cap_schedule_and_config():
    n = 32_000_000
    assert horizon_cap(0, n, 0.5, 20.0) == 0.5
    assert horizon_cap(n // 2, n, 0.5, 20.0) == pytest.approx(0.5 + 19.5 / 16)
    assert horizon_cap(n, n, 0.5, 20.0) == 20.0
    assert horizon_cap(5 * n, n, 0.5, 20.0) == 20.0
    assert horizon_cap(n // 2, n, 0.5, 20.0, power=1.0) == pytest.approx(10.25)
    assert horizon_cap(0, n, 30.0, 20.0) == 20.0  # never above the time limit
    cfg = AWRConfig()
    assert (cfg.horizon_curriculum_samples, cfg.horizon_start_s, cfg.horizon_power) == (0, 0.5, 4.0)  # off
    assert cfg.replace(horizon_curriculum_samples="32e6").horizon_curriculum_samples == 32_000_000
    for key, bad in (("horizon_curriculum_samples", -1), ("horizon_start_s", 0.0), ("horizon_power", -2.0)):
        with pytest.raises(ConfigError, match=key):
            cfg.replace(**{key: bad})


def test_batch_cap_applies_to_training_episodes_only():
    from awr_mimic.envs.batch import MimicBatch

    b = MimicBatch(1, **WALK, early_termination=False)  # only the caps end episodes here
    try:
        b.set_training_time_cap(0.2)  # ceil(0.2 * 30) = 6 steps
        for training, end in ((True, 6), (False, None)):
            b.training = training
            b.reset(0, 0.3)
            for step in range(1, 8):
                _, _, terminated, truncated, _ = b.step(b.reference_actions())
                assert not terminated[0]
                assert bool(truncated[0]) == (step == end), (training, step)
                if truncated[0]:
                    break
        b.training = True
        b.set_training_time_cap(None)
        b.reset(0, 0.3)
        assert not any(b.step(b.reference_actions())[3][0] for _ in range(8))
        with pytest.raises(ConfigError, match="positive number of seconds"):
            b.set_training_time_cap(-1.0)
    finally:
        b.close()


@pytest.mark.parametrize("envs", [1, 2])
def test_rollouts_cap_training_paths_and_not_evaluation(envs):
    from awr_mimic.learning.awr import policy_kwargs
    from awr_mimic.learning.config import resolve
    from awr_mimic.learning.networks import policy_weights
    from awr_mimic.sampling.rollout import make_rollout

    spec = EnvSpec(awr_mimic.ENV_ID, WALK)
    rollout = make_rollout(spec, policy_kwargs(resolve("mimic", {"hidden": (16,)})), seed=0, index=0,
                           envs_per_worker=envs)
    try:
        assert rollout.time_limit == 20.0
        rollout.set_weights(_zero_policy(policy_weights(rollout.policy)))
        train = rollout.run(150, call=0, max_episode_seconds=0.5)
        assert train.lengths.max() == CAP_STEPS
        _check_capped(train)
        evaluation = rollout.run_episodes([0, 1, 2, 3])
        assert evaluation.lengths.max() > CAP_STEPS
        again = rollout.run(150, call=0)  # no cap: the same call runs longer episodes
        assert again.lengths.max() > CAP_STEPS
    finally:
        rollout.close()


@pytest.mark.parametrize("workers", [0, 1])
def test_trainer_caps_training_episodes_but_not_evaluation(tmp_path, workers):
    cfg = {**TINY, "samples_per_iter": 500, "horizon_curriculum_samples": 10**12}  # cap ~ 0.5 s
    with Trainer("awr", env=awr_mimic.ENV_ID, env_kwargs=WALK, seed=0, config=cfg, workers=workers,
                 run_dir=tmp_path) as t:
        assert t.train_time_cap() == pytest.approx(0.5)
        batches, wait = [], t.sampler.wait

        def recording_wait():
            batches.append(wait())
            return batches[-1]

        t.sampler.wait = recording_wait
        t.train(iterations=2)
        assert len(batches) == 2
        for b in batches:
            _check_capped(b)
        # the same workers, right after capped training episodes: evaluation runs to the time limit
        t.sampler.set_weights(_zero_policy(t.algo.policy_weights()))
        assert t.sampler.evaluate(4).lengths.max() > CAP_STEPS
    rows = _rows(tmp_path / "progress.csv")
    assert [float(r["train_time_cap_s"]) for r in rows] == pytest.approx([0.5, 0.5])


def test_cap_at_the_time_limit_is_the_same_run_as_no_cap():
    from awr_mimic.learning.awr import policy_kwargs
    from awr_mimic.learning.config import resolve
    from awr_mimic.learning.networks import policy_weights
    from awr_mimic.sampling import LocalSampler

    spec = EnvSpec(awr_mimic.ENV_ID, WALK)
    with LocalSampler(spec, policy_kwargs(resolve("mimic", {"hidden": (16,)})), seed=2, workers=0,
                      envs_per_worker=2) as s:
        s.set_weights(_zero_policy(policy_weights(s._local.policy)))
        off = s.sample(200)
        s.load_state_dict({"calls": 0})
        full = s.sample(200, max_episode_seconds=20.0)
    for k in ("obs", "actions", "rewards", "lengths", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(off, k), getattr(full, k))
    cfg = {**TINY, "samples_per_iter": 200}
    with Trainer("awr", env=awr_mimic.ENV_ID, env_kwargs=WALK, seed=0, config=cfg, workers=0) as t:
        assert t.cfg.horizon_curriculum_samples == 0 and t.train_time_cap() is None  # off by default
        assert "train_time_cap_s" not in t.train(iterations=1) and "train_time_cap_s" not in t._row


def test_the_ray_backend_caps_as_the_local_one():
    pytest.importorskip("ray")
    from awr_mimic.learning.awr import AWR, policy_kwargs
    from awr_mimic.learning.config import resolve
    from awr_mimic.sampling import make_sampler

    cfg = resolve("mimic", {"hidden": (16,)})
    out = {}
    for backend in ("local", "ray"):
        with make_sampler(EnvSpec(awr_mimic.ENV_ID, WALK), policy_kwargs(cfg), seed=3, workers=1, backend=backend,
                          envs_per_worker=2) as s:
            assert s.time_limit == 20.0
            s.set_weights(_zero_policy(AWR(s.space, cfg).policy_weights()))
            # the exploration std travels with the request too (test_exploration_anneal.py)
            out[backend] = s.sample(150, max_episode_seconds=0.5, action_std=0.1)
    _check_capped(out["ray"])
    for k in ("obs", "actions", "rewards", "lengths", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(out["local"], k), getattr(out["ray"], k), err_msg=k)


def run_killed_and_resumed(tmp_path, kw):
    """Run (a) 4 iterations straight; run (b) killed in its third, resumed from its checkpoint of the
    second and trained to 4. Checks the same actor and progress.csv; returns a's rows and actor."""
    with Trainer("awr", run_dir=tmp_path / "a", **kw) as a:
        a.train(iterations=4)
        ref = {k: v.clone() for k, v in a.algo.actor.state_dict().items()}
    b = Trainer("awr", run_dir=tmp_path / "b", **kw)
    for _ in range(3):  # the third iteration is never checkpointed (a kill)
        b._iterate()
    b.close()
    with Trainer.resume(tmp_path / "b") as r:
        assert r.iteration == 2
        r.train(iterations=2)
        for k, v in r.algo.actor.state_dict().items():
            assert torch.equal(v, ref[k]), k
    rows_a, rows_b = _rows(tmp_path / "a" / "progress.csv"), _rows(tmp_path / "b" / "progress.csv")
    assert rows_a == rows_b
    return rows_a, a.algo.actor


def test_the_schedule_is_reproducible_and_resumes_exactly_with_overlap(tmp_path):
    # the cap changes every iteration: 0.5 s, then 0.5 + 19.5 * (samples / 600) s
    cfg = {**TINY, "samples_per_iter": 200, "horizon_curriculum_samples": 600, "horizon_power": 1.0,
           "overlap": True, "checkpoint_every": 2}
    kw = dict(env=awr_mimic.ENV_ID, env_kwargs=WALK, seed=4, config=cfg, workers=1)
    rows_a, _ = run_killed_and_resumed(tmp_path, kw)
    caps = [float(r["train_time_cap_s"]) for r in rows_a]
    samples = [0] + [int(r["samples"]) for r in rows_a[:-1]]
    assert caps == pytest.approx([min(20.0, 0.5 + 19.5 * s / 600) for s in samples])
    assert caps[0] == 0.5 and caps[1] < caps[2] < 20.0
