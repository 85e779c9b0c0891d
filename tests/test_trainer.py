import csv

import numpy as np
import pytest
import torch

import test_learning_tasks as tasks
from awr_mimic import Trainer
from awr_mimic.errors import AwrMimicError, ConfigError
from awr_mimic.learning.checkpoint import load_checkpoint, load_policy
from awr_mimic.learning.dataset import load_dataset, save_dataset
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.learning.trainer import WALL_CLOCK_COLUMNS
from awr_mimic.learning.trainer import default_preset
from awr_mimic.sampling import LocalSampler

FAST = {"samples_per_iter": 64, "actor_steps": 20, "critic_steps": 10, "hidden": (16,), "eval_every": 2,
        "eval_episodes": 2, "buffer_size": 300}


def _params(t):
    return {k: v.clone() for k, v in t.algo.actor.state_dict().items()} | \
        {f"c.{k}": v.clone() for k, v in t.algo.critic.state_dict().items()}


def _csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:  # wall-clock columns differ between runs
        for k in WALL_CLOCK_COLUMNS:
            r.pop(k)
    return rows


def test_api_returns_evaluation_and_maps_rlox_keys():
    cfg = {**FAST, "learning_rate": 1e-3, "n_critic_updates": 5, "max_advantage": 7.0, "batch_size": 32}
    del cfg["critic_steps"]  # an explicit field would win over its alias
    with Trainer("awr", env="CartPole-v1", seed=3, config=cfg, workers=0) as t:
        assert t.cfg.actor_lr == 1e-3 and t.cfg.critic_steps == 5 and t.cfg.max_weight == 7.0
        assert t.cfg.seed == 3 and t.cfg.preset == "gym" and t.cfg.optimizer == "sgd"  # discrete variant
        r = t.train(total_timesteps=200)
    assert r["episodes"] == 10 and r["mean_reward"] == pytest.approx(r["mean_length"])  # CartPole: 1 per step
    assert r["samples"] >= 200 and 1 <= r["iterations"] <= 4  # whole paths: >= 64 samples per iteration


def test_preset_follows_the_env_and_algo_is_checked():
    assert default_preset(EnvSpec("awr_mimic/Mimic-v0", {"clip": "walk"})) == "mimic"
    assert default_preset(EnvSpec("Pendulum-v1")) == "gym"
    with pytest.raises(AwrMimicError, match="unknown algorithm 'ppo'"):
        Trainer("ppo", env="CartPole-v1")
    with pytest.raises(ConfigError, match="unknown config key"):
        Trainer("awr", env="CartPole-v1", config={"learning_rat": 1})


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    with Trainer("awr", env=tasks.CHAIN, seed=1, config=FAST, workers=0, run_dir=tmp_path / "run") as t:
        t.train(iterations=3)
        params, rng = _params(t), t.algo.rng.bit_generator.state
        torch_rng = torch.get_rng_state()
        t.save()
    state = load_checkpoint(tmp_path / "run")
    assert state["counters"]["iteration"] == 3 and state["env_spec"]["id"] == tasks.CHAIN
    with Trainer.resume(tmp_path / "run") as r:
        for k, v in _params(r).items():
            assert torch.equal(v, params[k]), k
        assert r.algo.rng.bit_generator.state == rng
        assert torch.equal(torch.get_rng_state(), torch_rng)
        assert r.iteration == 3 and r.samples == state["counters"]["samples"]
        np.testing.assert_array_equal(r.algo.normalizer.mean, t.algo.normalizer.mean)
        np.testing.assert_array_equal(r.algo.buffer.val, t.algo.buffer.val)
        r.train(iterations=1)
        assert r.iteration == 4  # counters continue
    policy, spec, cfg = load_policy(tmp_path / "run" / "checkpoint.pt")  # a checkpoint alone rebuilds the policy
    assert spec == EnvSpec(tasks.CHAIN) and cfg.actor_hidden == (16,)
    assert (tmp_path / "run" / "best.pt").exists() and (tmp_path / "run" / "config.yaml").exists()


@pytest.mark.parametrize("overlap, workers", [(False, 0), (True, 1)])
def test_resume_after_a_kill_continues_the_same_run(tmp_path, overlap, workers):
    cfg = {**FAST, "checkpoint_every": 2, "overlap": overlap}
    with Trainer("awr", env=tasks.CHAIN, seed=5, config=cfg, workers=workers, run_dir=tmp_path / "a") as a:
        a.train(iterations=6)
        ref = _params(a)
    # run b: 3 iterations, the third never checkpointed (a kill after its CSV row and buffer chunk)
    b = Trainer("awr", env=tasks.CHAIN, seed=5, config=cfg, workers=workers, run_dir=tmp_path / "b")
    for _ in range(3):
        b._iterate()
    assert (tmp_path / "b" / "buffer" / "chunk-0000003.npz").exists()
    b.close()
    with Trainer.resume(tmp_path / "b") as r:
        assert r.iteration == 2  # lost at most one iteration
        assert not (tmp_path / "b" / "buffer" / "chunk-0000003.npz").exists()
        r.train(iterations=4)
        for k, v in _params(r).items():
            assert torch.equal(v, ref[k]), k
    assert _csv(tmp_path / "a" / "progress.csv") == _csv(tmp_path / "b" / "progress.csv")


def test_resume_refuses_another_worker_count(tmp_path):
    with Trainer("awr", env=tasks.CHAIN, seed=0, config=FAST, workers=0, run_dir=tmp_path) as t:
        t.train(iterations=1)
    with pytest.raises(ConfigError, match="workers"):
        Trainer.resume(tmp_path, workers=2)


def test_offline_training_uses_only_the_dataset(tmp_path):
    spec = EnvSpec(tasks.TARGET)
    with LocalSampler(spec, None, seed=0, workers=0) as s:
        data = s.sample(600, mode="random")
        space = s.space
    save_dataset(tmp_path / "d.npz", data, spec, space)
    back, spec2, space2 = load_dataset(tmp_path / "d.npz")
    assert spec2 == spec and space2 == space and back.num_samples == data.num_samples
    cfg = {"samples_per_iter": 200, "actor_steps": 100, "critic_steps": 50, "hidden": (32, 32),
           "optimizer": "adam", "actor_lr": 1e-3, "critic_lr": 1e-3, "eval_every": 0, "buffer_size": 100}
    with Trainer("awr", dataset=tmp_path / "d.npz", seed=0, config=cfg, run_dir=tmp_path / "run") as t:
        assert t.sampler is None and t.offline and len(t.algo.buffer) == 600  # buffer grown to hold it all
        before = t.evaluate(20)["joint_angle_error"]
        t.train(iterations=10)
        assert t.samples == 2000 and t.episodes == 0
        assert t.evaluate(20)["joint_angle_error"] < 0.8 * before
    with Trainer.resume(tmp_path / "run") as r:  # offline resume rebuilds the buffer from the dataset
        assert len(r.algo.buffer) == 600 and r.iteration == 10
