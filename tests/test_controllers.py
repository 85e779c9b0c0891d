"""Named controllers: `humanoid/walk` resolves to a shipped file, listing, and one-line mismatches."""
from __future__ import annotations

import dataclasses

import pytest

from awr_mimic.cli import main
from awr_mimic.errors import AwrMimicError
from awr_mimic.learning.awr import policy_kwargs
from awr_mimic.learning.checkpoint import (load_checkpoint, looks_like_name, open_policy, resolve_checkpoint,
                                           save_checkpoint)
from awr_mimic.learning.config import AWRConfig
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.learning.networks import Policy, SpaceInfo
from awr_mimic.physics_revision import PHYSICS_REVISION

HUMANOID_WALK = EnvSpec("awr_mimic/Mimic-v0", {"character": "humanoid", "clip": "walk"})


def make_controller(path, spec: EnvSpec, obs_dim: int, act_dim: int, discrete: bool = False, **metadata):
    """A controller file as `awr-mimic slim --controller` writes it (untrained weights)."""
    cfg = AWRConfig().replace(actor_hidden=(8,), critic_hidden=(8,))
    space = SpaceInfo(obs_dim, discrete, act_dim, *(() if discrete else ((-1.0,) * act_dim, (1.0,) * act_dim)))
    policy = Policy(space, **policy_kwargs(cfg))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, {"kind": "controller", "algo": "awr", "physics_revision": PHYSICS_REVISION,
                           "config": cfg.to_dict(), "env_spec": spec.to_dict(),
                           "space": dataclasses.asdict(space), "learner": {"actor": policy.state_dict()},
                           "counters": {"samples": metadata.get("samples", 0)}, "metadata": metadata})
    return path


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    d = tmp_path / "controllers"
    make_controller(d / "humanoid" / "walk.pt", HUMANOID_WALK, 362, 28, normalized_return=0.81,
                    joint_angle_error=0.412, end_effector_error=0.031, samples=50_000_000, failure_rate=0.125,
                    eval_episodes=16)
    make_controller(d / "cartpole" / "balance.pt", EnvSpec("CartPole-v1"), 7, 2, discrete=True, samples=1000)
    monkeypatch.setenv("AWR_MIMIC_CONTROLLERS", str(d))
    monkeypatch.chdir(tmp_path)
    return d


def test_listing(shipped, capsys, monkeypatch, tmp_path):
    assert main(["controllers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "character", "clip"]
    walk = next(line for line in lines if line.startswith("humanoid/walk"))
    assert walk.split() == ["humanoid/walk", "humanoid", "walk", "0.810", "2/16", "0.412", "3.1", "—", "50.0M"]
    balance = next(line for line in lines if line.startswith("cartpole/balance"))
    assert balance.split()[3:5] == ["-", "-"]  # not measured
    assert any(line.startswith("cartpole/balance") for line in lines)

    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("AWR_MIMIC_CONTROLLERS", str(tmp_path / "empty"))
    assert main(["controllers"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no controllers shipped yet") and len(out.strip().splitlines()) == 1


def test_a_name_resolves_to_the_shipped_file_and_a_path_needs_dot_slash(shipped, tmp_path):
    assert looks_like_name("humanoid/walk") and not looks_like_name("runs/x/best.pt")
    assert not looks_like_name("/abs/walk") and not looks_like_name("walk")
    state = load_checkpoint("humanoid/walk")
    assert state["name"] == "humanoid/walk" and state["kind"] == "controller"
    assert state["metadata"]["normalized_return"] == 0.81
    ck = open_policy("humanoid/walk")
    assert ck.label == "controller humanoid/walk" and ck.space.obs_dim == 362

    # a same-named folder on disk does not take over the name; ./humanoid/walk reaches it
    make_controller(tmp_path / "humanoid" / "walk" / "checkpoint.pt", HUMANOID_WALK, 5, 28)
    path, name = resolve_checkpoint("humanoid/walk")
    assert name == "humanoid/walk" and open_policy("humanoid/walk").space.obs_dim == 362
    path, name = resolve_checkpoint("./humanoid/walk")
    assert name is None and path.resolve() == tmp_path.resolve() / "humanoid" / "walk" / "checkpoint.pt"
    assert open_policy("./humanoid/walk").space.obs_dim == 5


def test_an_unknown_name_suggests_close_ones(shipped, capsys):
    with pytest.raises(AwrMimicError) as err:
        load_checkpoint("humanoid/wlak")
    msg = str(err.value)
    assert msg.startswith("unknown controller 'humanoid/wlak'") and "shipped: cartpole/balance, humanoid/walk" in msg
    assert "did you mean humanoid/walk?" in msg and "\n" not in msg
    assert main(["eval", "--checkpoint", "humanoid/wlak"]) == 2
    e = capsys.readouterr().err
    assert "did you mean humanoid/walk?" in e and len(e.strip().splitlines()) == 1
    with pytest.raises(AwrMimicError, match="checkpoint not found"):  # a path is never taken for a name
        load_checkpoint("runs/x/best.pt")


def test_mismatches_are_one_line(shipped, capsys):
    assert main(["eval", "--checkpoint", "humanoid/walk", "--character", "dog", "--workers", "0"]) == 2
    e = capsys.readouterr().err.strip()
    assert "controller humanoid/walk was trained on the humanoid and cannot drive the dog" in e
    assert len(e.splitlines()) == 1

    assert main(["eval", "--checkpoint", "cartpole/balance", "--workers", "0", "--episodes", "1"]) == 2
    e = capsys.readouterr().err.strip()
    assert "controller cartpole/balance expects observations of size 7 (CartPole-v1), the env gives 4" in e
    assert len(e.splitlines()) == 1

    # the humanoid env of this version gives another observation size than the controller was made for
    assert main(["eval", "--checkpoint", "humanoid/walk", "--workers", "0", "--episodes", "1"]) == 2
    e = capsys.readouterr().err.strip()
    assert "controller humanoid/walk expects observations of size 362 (humanoid, clip='walk'), the env gives" in e
    assert len(e.splitlines()) == 1


def test_the_viewer_checks_the_env_too(shipped):
    from awr_mimic_viewer.policy import load_checkpoint as viewer_load

    make_env, _act, spec = viewer_load("humanoid/walk")
    with pytest.raises(AwrMimicError, match="expects observations of size 362"):
        make_env(None)


def test_slim_controller_from_a_run_loads_by_name(tmp_path, monkeypatch, capsys):
    from awr_mimic import Trainer

    cfg = {"samples_per_iter": 64, "actor_steps": 5, "critic_steps": 5, "hidden": (16,), "eval_every": 1,
           "eval_episodes": 2, "buffer_size": 300}
    with Trainer("awr", env="CartPole-v1", seed=0, config=cfg, workers=0, run_dir=tmp_path / "run") as t:
        t.train(iterations=2)
    ctl = tmp_path / "ctl" / "cartpole" / "balance.pt"
    assert main(["slim", str(tmp_path / "run"), "--out", str(ctl), "--controller"]) == 0
    assert ctl.stat().st_size < (tmp_path / "run" / "checkpoint.pt").stat().st_size
    monkeypatch.setenv("AWR_MIMIC_CONTROLLERS", str(tmp_path / "ctl"))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["eval", "--checkpoint", "cartpole/balance", "--workers", "0", "--episodes", "2"]) == 0
    assert "from controller cartpole/balance" in capsys.readouterr().out
    assert main(["controllers"]) == 0
    assert "cartpole/balance" in capsys.readouterr().out
