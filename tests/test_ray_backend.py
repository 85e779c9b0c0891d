"""The Ray sampler backend: same samples as the local backend, dead actors, CLI.

One local Ray instance (2 CPUs, no dashboard) for the whole module; Ray is in the
`test` extra, so these tests run (they are not skipped) in CI.
"""
import csv
import logging
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import ray

from awr_mimic.cli import main
from awr_mimic.errors import AwrMimicError, ConfigError
from awr_mimic.learning.awr import AWR, policy_kwargs
from awr_mimic.learning.config import preset
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.learning.trainer import Trainer
from awr_mimic.sampling import PathBatch, make_sampler
from awr_mimic.sampling.ray_backend import RaySampler, _check_reachable, import_ray

CFG = preset("gym").replace(actor_hidden=(16,))
PK = policy_kwargs(CFG)
SMALL = {"actor_hidden": (16,), "critic_hidden": (16,), "samples_per_iter": 400, "actor_steps": 10,
         "critic_steps": 5, "eval_every": 0, "workers": 2}


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def _equal(a: PathBatch, b: PathBatch):
    for k in ("obs", "actions", "rewards", "lengths", "terminated", "truncated", "final_obs", "returns"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)


def _both_backends(spec, pk, cfg, samples, envs_per_worker=1, evaluate=0):
    out = {}
    for backend in ("local", "ray"):
        with make_sampler(spec, pk, seed=5, workers=2, backend=backend, envs_per_worker=envs_per_worker) as s:
            s.set_weights(AWR(s.space, cfg).policy_weights())
            out[backend] = [s.sample(samples), s.sample(samples)]
            if evaluate:
                out[backend].append(s.evaluate(evaluate))
    return out


def test_cartpole_ray_gives_the_local_samples():
    out = _both_backends(EnvSpec("CartPole-v1"), PK, CFG, 300, evaluate=3)
    for a, b in zip(out["local"], out["ray"]):
        _equal(a, b)
    assert out["ray"][0].num_samples >= 300
    assert not np.array_equal(out["ray"][0].obs[:20], out["ray"][1].obs[:20])  # calls differ
    assert out["ray"][0].obs.flags.writeable  # driver-owned arrays, not object-store views


def test_humanoid_ray_gives_the_local_samples():
    cfg = preset("mimic")
    spec = EnvSpec("awr_mimic/Mimic-v0", {"character": "humanoid", "clip": "walk"})
    out = _both_backends(spec, policy_kwargs(cfg), cfg, 200, envs_per_worker=2)
    for a, b in zip(out["local"], out["ray"]):
        _equal(a, b)
        assert a.num_samples >= 200 and a.obs.shape[1] == 197


def test_a_killed_actor_is_replaced_and_its_share_dropped(caplog):
    with RaySampler(EnvSpec("CartPole-v1"), PK, seed=1, workers=2) as s:
        s.set_weights(AWR(s.space, CFG).policy_weights())
        full = s.sample(4000)
        pid = s.actor_pid(0)
        s.start(4000)
        os.kill(pid, signal.SIGKILL)  # mid-call
        with caplog.at_level(logging.WARNING):
            part = s.wait()
        assert "actor 0 lost" in caplog.text and "2000 samples" in caplog.text
        assert s.lost_samples == 2000 and s.actor_restarts == 1
        assert 2000 <= part.num_samples < full.num_samples  # actor 1's share only
        after = s.sample(4000)  # the replacement works, with the same seeding
        assert after.num_samples >= 4000 and s.actor_pid(0) != pid
        assert s.state_dict() == {"calls": 3, "lost_samples": 2000, "actor_restarts": 1}


def test_training_survives_a_dead_actor_logs_the_loss_and_resumes(tmp_path):
    run = tmp_path / "run"
    t = Trainer("awr", "CartPole-v1", seed=0, config={**SMALL, "backend": "ray"}, run_dir=run)
    sampler = t.sampler
    start = sampler.start

    def start_and_kill(*a, **k):
        start(*a, **k)
        if sampler.calls == 2:  # second iteration: kill actor 1 while it samples
            ray.kill(sampler.actors[1], no_restart=True)

    sampler.start = start_and_kill
    with t:
        t.train(iterations=3)
        assert sampler.actor_restarts == 1 and sampler.lost_samples == 200
    with open(run / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["lost_samples"]) for r in rows] == [0, 200, 200]
    assert [int(r["actor_restarts"]) for r in rows] == [0, 1, 1]
    # a new driver continues from the checkpoint, counters included
    with Trainer.resume(run, backend="ray") as t2:
        assert t2.cfg.backend == "ray" and t2.iteration == 3 and t2.sampler.lost_samples == 200
        t2.train(iterations=1)
        assert t2.iteration == 4


def test_cli_ray_run_matches_the_local_run(tmp_path, capsys):
    common = ["train", "--env", "CartPole-v1", "--samples", "800", "--workers", "2", "--seed", "3",
              "--samples-per-iter", "400", "--actor-steps", "10", "--critic-steps", "5", "--hidden", "16",
              "--eval-every", "0", "--eval-episodes", "2", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0
    assert "(ray)" in capsys.readouterr().out

    def rows(d):
        with open(tmp_path / d / "progress.csv", newline="") as f:
            return [(r["samples"], r["mean_return"], r["critic_loss"]) for r in csv.DictReader(f)]

    assert rows("local") == rows("ray")


def test_errors_are_one_line(monkeypatch):
    with pytest.raises(ConfigError, match="cluster has 2"):
        RaySampler(EnvSpec("CartPole-v1"), PK, workers=3)
    with pytest.raises(ConfigError, match="NoSuchEnv"):
        RaySampler(EnvSpec("NoSuchEnv-v0"), PK, workers=1)
    with pytest.raises(ConfigError, match="ray backend needs workers >= 1"):
        Trainer("awr", "CartPole-v1", config={"backend": "ray", "workers": 0})
    with pytest.raises(AwrMimicError, match="cannot reach a Ray cluster at 127.0.0.1:1"):
        _check_reachable("127.0.0.1:1")  # at once, not after ray.init's minutes of retries
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(AwrMimicError, match=r"ray is not installed: pip install 'awr-mimic\[ray\]'"):
        import_ray()


def test_the_local_backend_never_imports_ray():
    code = ("import sys; from awr_mimic import Trainer; from awr_mimic.sampling import make_sampler; "
            "import awr_mimic.cli.train, awr_mimic.bench.sample; assert 'ray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
