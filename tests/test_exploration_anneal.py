"""The exploration anneal: the action std of training actions goes linearly from action_std to
action_std_end over action_std_anneal_samples samples (evaluation is deterministic throughout)."""

import numpy as np
import pytest
import torch

import awr_mimic
from awr_mimic import Trainer
from awr_mimic.errors import ConfigError
from awr_mimic.learning.config import AWRConfig
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.learning.trainer import exploration_std
from test_horizon_curriculum import run_killed_and_resumed
from test_trainer import _csv as _rows  # progress.csv rows without the wall-clock columns

WALK = {"character": "humanoid", "clip": "walk", "action_mode": "residual"}
TINY = {"hidden": (16,), "actor_steps": 5, "critic_steps": 5, "eval_every": 0, "envs_per_worker": 2,
        "buffer_size": 5000, "normalizer_samples": 1000}


def test_schedule_and_config():
    assert exploration_std(0, 0.05, 0.025, 1000) == 0.05
    assert exploration_std(500, 0.05, 0.025, 1000) == pytest.approx(0.0375)
    assert exploration_std(1000, 0.05, 0.025, 1000) == pytest.approx(0.025)
    assert exploration_std(10**9, 0.05, 0.025, 1000) == pytest.approx(0.025)
    assert exploration_std(500, 0.05, None, 1000) == 0.05  # no end: constant
    assert exploration_std(0, 0.05, 0.025, 0) == 0.025  # no anneal length: the end value at once
    # a step at 3M samples, and a linear anneal that starts at 1M
    assert [exploration_std(s, 0.05, 0.025, 0, 3_000_000) for s in (0, 2_999_999, 3_000_000)] == [0.05, 0.05, 0.025]
    assert exploration_std(1_500_000, 0.05, 0.025, 1_000_000, 1_000_000) == pytest.approx(0.0375)
    assert exploration_std(9_000_000, 0.05, 0.025, 1_000_000, 1_000_000) == pytest.approx(0.025)
    cfg = AWRConfig()
    assert cfg.action_std_end is None and cfg.action_std_anneal_samples == cfg.action_std_anneal_start == 0  # off
    assert cfg.replace(action_std_end="0.02", action_std_anneal_samples="3e6").action_std_anneal_samples == 3_000_000
    assert cfg.replace(action_std_end="none").action_std_end is None
    for key, bad in (("action_std_end", 0.0), ("action_std_end", -0.1), ("action_std_anneal_samples", -1),
                     ("action_std_anneal_start", -5)):
        with pytest.raises(ConfigError, match=key):
            cfg.replace(**{key: bad})


@pytest.mark.parametrize("envs", [1, 2])
def test_a_call_samples_with_the_std_it_is_given(envs):
    from awr_mimic.learning.awr import policy_kwargs
    from awr_mimic.learning.config import resolve
    from awr_mimic.sampling.rollout import make_rollout

    rollout = make_rollout(EnvSpec(awr_mimic.ENV_ID, WALK), policy_kwargs(resolve("mimic", {"hidden": (16,)})),
                           seed=0, index=0, envs_per_worker=envs)
    try:
        measured = {}
        for std in (0.2, 0.02):
            batch = rollout.run(300, call=0, action_std=std)
            with torch.no_grad():
                mean = rollout.policy(torch.as_tensor(batch.obs)).numpy()
            measured[std] = float(np.std(batch.actions - mean))
        assert measured[0.2] == pytest.approx(0.2, rel=0.1)
        assert measured[0.02] == pytest.approx(0.02, rel=0.1)
        with pytest.raises(ConfigError, match="action_std"):
            rollout.run(10, call=1, action_std=0.0)
    finally:
        rollout.close()


def test_trainer_anneals_and_resumes_the_schedule_exactly(tmp_path):
    # also guards the worlds' sorted overlapping pairs: without them the resumed run's fresh worker
    # solved contacts in another order than the used one and this run diverged in its third batch
    # 200 samples per iteration, std 0.2 -> 0.05 over 600 samples
    cfg = {**TINY, "samples_per_iter": 200, "action_std": 0.2, "action_std_end": 0.05,
           "action_std_anneal_start": 0, "action_std_anneal_samples": 600, "overlap": True,
           "checkpoint_every": 2}
    kw = dict(env=awr_mimic.ENV_ID, env_kwargs=WALK, seed=4, config=cfg, workers=1)
    rows_a, actor = run_killed_and_resumed(tmp_path, kw)
    assert actor.action_std == pytest.approx(0.05)  # the learner fits the last batch's noise
    stds = [float(r["action_std"]) for r in rows_a]
    samples = [0] + [int(r["samples"]) for r in rows_a[:-1]]
    assert stds == pytest.approx([exploration_std(s, 0.2, 0.05, 600) for s in samples])
    assert stds[0] == 0.2 and stds[-1] == pytest.approx(0.05) and stds[1] > stds[2]


def test_without_an_end_the_run_is_unchanged(tmp_path):
    cfg = {**TINY, "samples_per_iter": 200, "action_std": 0.1, "action_std_end": None}  # the mimic preset anneals
    kw = dict(env=awr_mimic.ENV_ID, env_kwargs=WALK, seed=1, config=cfg, workers=0)
    with Trainer("awr", run_dir=tmp_path / "a", **kw) as a:
        a.train(iterations=2)
        ref = {k: v.clone() for k, v in a.algo.actor.state_dict().items()}
    # an anneal from 0.1 to 0.1 samples with the same noise as no anneal at all
    same = {**cfg, "action_std_end": 0.1, "action_std_anneal_samples": 10_000}
    with Trainer("awr", run_dir=tmp_path / "b", **{**kw, "config": same}) as b:
        b.train(iterations=2)
        for k, v in b.algo.actor.state_dict().items():
            assert torch.equal(v, ref[k]), k
    assert all(r["action_std"] == "" for r in _rows(tmp_path / "a" / "progress.csv"))
    assert [float(r["action_std"]) for r in _rows(tmp_path / "b" / "progress.csv")] == [0.1, 0.1]
