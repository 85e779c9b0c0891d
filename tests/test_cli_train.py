import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from awr_mimic.cli import main

SMALL = ["--samples-per-iter", "200", "--actor-steps", "20", "--critic-steps", "10", "--hidden", "16",
         "--eval-every", "2", "--eval-episodes", "2", "--no-progress"]


def _rows(run):
    with open(run / "progress.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_train_eval_resume_on_cartpole(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--env", "CartPole-v1", "--samples", "600", "--workers", "2", "--seed", "1",
                 "--out", str(run), "--set", "beta=0.5", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "eval over 10 deterministic episodes" in out
    for f in ("checkpoint.pt", "best.pt", "config.yaml", "progress.csv"):
        assert (run / f).exists(), f
    assert list((run / "tb").iterdir())  # tensorboard events
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["beta"] == 0.5 and cfg["seed"] == 1 and cfg["workers"] == 2 and cfg["actor_hidden"] == [16]
    rows = _rows(run)
    assert {"iteration", "samples", "mean_return", "normalized_return", "samples_per_s",
            "eval_mean_return"} <= set(rows[0])
    assert [int(r["iteration"]) for r in rows] == list(range(1, len(rows) + 1))
    assert rows[1]["eval_mean_return"] != "" and int(rows[-1]["samples"]) >= 600

    assert main(["eval", "--checkpoint", str(run), "--episodes", "3", "--json", "--workers", "1"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["episodes"] == 3 and ev["mean_return"] == pytest.approx(ev["mean_length"])
    assert main(["eval", "--checkpoint", str(run / "best.pt"), "--episodes", "2"]) == 0
    assert "deterministic episodes" in capsys.readouterr().out

    n = len(rows)
    assert main(["train", "--resume", str(run), "--samples", "1200", "--no-progress"]) == 0
    rows = _rows(run)
    assert len(rows) > n and [int(r["iteration"]) for r in rows] == list(range(1, len(rows) + 1))
    assert int(rows[-1]["samples"]) >= 1200


@pytest.mark.parametrize("argv, message", [
    (["train", "--env", "CartPole-v1", "--set", "gama=0.9"], "did you mean 'gamma'"),
    (["train", "--env", "CartPole-v1", "--beta", "hot"], "config beta: bad value 'hot'"),
    (["train", "--env", "NoSuchEnv-v0", "--workers", "0"], "cannot make env 'NoSuchEnv-v0'"),
    (["train"], "say what to train on"),
    (["eval", "--checkpoint", "/nonexistent/run"], "checkpoint not found"),
    (["collect", "--random", "--samples", "10", "--out", "x.npz"], "--random needs an env"),
])
def test_user_errors_are_one_line_exit_2(argv, message, capsys, tmp_path):
    assert main([*argv, *(["--out", str(tmp_path / "o")] if argv[0] == "train" and len(argv) > 1 else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    args = ["train", "--env", "CartPole-v1", "--samples", "200", "--workers", "0", "--out", str(tmp_path), *SMALL]
    assert main(args) == 0
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err


def test_collect_then_offline_training(tmp_path, capsys):
    data = tmp_path / "d.npz"
    assert main(["collect", "--env", "Pendulum-v1", "--random", "--samples", "400", "--out", str(data),
                 "--workers", "2"]) == 0
    d = np.load(data)
    assert d["obs"].shape == (400, 3) and d["actions"].shape == (400, 1) and d["final_obs"].shape == (2, 3)
    assert d["truncated"].sum() == 2 and d["terminated"].sum() == 0 and list(d["path_lengths"]) == [200, 200]
    run = tmp_path / "off"
    assert main(["train", "--dataset", str(data), "--offline", "--samples", "400", "--out", str(run),
                 "--workers", "0", *SMALL]) == 0
    assert len(_rows(run)) == 2
    assert main(["collect", "--checkpoint", str(run), "--samples", "200", "--out", str(tmp_path / "p.npz"),
                 "--workers", "0"]) == 0
    assert np.load(tmp_path / "p.npz")["rewards"].shape == (200,)


def test_kill_9_then_resume_loses_at_most_one_iteration(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "awr_mimic", "train", "--env", "CartPole-v1", "--samples", "1e6",
           "--workers", "2", "--out", str(run), *SMALL]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(list((run / "buffer").glob("chunk-*.npz"))) < 4:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its workers, mid-iteration
        proc.wait()
    rows_before = len(_rows(run))
    assert rows_before >= 3
    done = subprocess.run([sys.executable, "-m", "awr_mimic", "train", "--resume", str(run), "--samples",
                           str(200 * (rows_before + 2)), "--no-progress"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    rows = _rows(run)
    # the resumed run starts right after the last checkpoint (at most one iteration lost) and numbers on
    assert [int(r["iteration"]) for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) >= rows_before + 1


def test_humanoid_train_eval_resume(tmp_path, capsys):
    """The imitation env end to end through the CLI (small nets, a few hundred samples)."""
    run = tmp_path / "h"
    small = ["--samples-per-iter", "150", "--actor-steps", "4", "--critic-steps", "4", "--hidden", "32",
             "--eval-every", "1", "--eval-episodes", "1", "--no-progress", "--workers", "2"]
    assert main(["train", "--character", "humanoid", "--clip", "walk", "--samples", "300", "--out", str(run),
                 *small]) == 0
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["preset"] == "mimic" and cfg["gamma"] == 0.95 and cfg["action_std"] == 0.05 and cfg["action_std_end"] == 0.025
    rows = _rows(run)
    norm = float(rows[0]["normalized_return"])
    assert 0.0 < norm < 1.0 and 0.0 < float(rows[0]["eval_normalized_return"]) < 1.0
    out = capsys.readouterr().out
    # one line per eval while training, then what to run next: the run dir and how to watch it
    assert "iter    1" in out and "normalised return" in out and " train / " in out
    tail = out[out.index("eval over 10 deterministic episodes"):]
    assert f"run dir {run}: progress.csv" in tail and "checkpoint.pt" in tail and "best.pt" in tail
    assert f"awr-mimic view --checkpoint {run}" in tail
    assert f"awr-mimic render --checkpoint {run} --out {run / 'policy.mp4'}" in tail
    assert f"awr-mimic plot {run} --out {run / 'curve.svg'}" in tail
    assert f"awr-mimic train --resume {run} --samples 600" in tail
    assert main(["eval", "--checkpoint", str(run), "--episodes", "2", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert 0.0 < ev["normalized_return"] < 1.0 and ev["joint_angle_error"] > 0 and ev["end_effector_error"] >= 0
    assert {"reward_pose", "reward_velocity", "reward_end_effector", "reward_root", "reward_com"} <= set(ev)
    # an untrained policy falls: each fall is listed with the clip phase its episode started from
    from awr_mimic.sampling.rollout import eval_start_phase

    assert [e["episode"] for e in ev["ended_early"]] == [0, 1]
    assert [e["start_phase"] for e in ev["ended_early"]] == [round(eval_start_phase(cfg["seed"], k), 4) for k in (0, 1)]
    assert all(0 < e["steps"] < 600 for e in ev["ended_early"])
    assert main(["eval", "--checkpoint", str(run), "--episodes", "2"]) == 0
    assert f"ended early        2 of 2: from phase {ev['ended_early'][0]['start_phase']:.3f} after" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--samples", "450", "--no-progress"]) == 0
    assert [int(r["iteration"]) for r in _rows(run)] == list(range(1, len(_rows(run)) + 1))


def _fake_trainer(run, spec):
    from types import SimpleNamespace

    return SimpleNamespace(run_dir=run, env_spec=spec)


def test_next_steps_names_the_shipped_controller_only_if_it_exists(tmp_path, monkeypatch):
    from awr_mimic import paths
    from awr_mimic.cli.train import next_steps, shipped_controller
    from awr_mimic.learning.envspec import EnvSpec

    run = tmp_path / "runs" / "walk"
    run.mkdir(parents=True)
    for f in ("progress.csv", "checkpoint.pt"):
        (run / f).write_text("")
    controllers = tmp_path / "controllers"
    monkeypatch.setattr(paths, "controllers_dirs", lambda: [controllers], raising=False)
    monkeypatch.setattr(paths, "assets_dir", lambda: tmp_path)
    spec = EnvSpec("awr_mimic/Mimic-v0", {"character": "humanoid", "clip": "walk"})

    text = next_steps(_fake_trainer(run, spec), 50_000)
    assert text.startswith(f"run dir {run}: progress.csv (learning curve data), checkpoint.pt (latest)\n")
    assert "best.pt" not in text  # no eval yet: no best.pt to name
    assert f"awr-mimic view --checkpoint {run}" in text and "--samples 100000" in text
    assert "longer-trained" not in text and shipped_controller("humanoid", "walk") is None

    (controllers / "humanoid").mkdir(parents=True)
    (controllers / "humanoid" / "walk.pt").write_bytes(b"")
    assert shipped_controller("humanoid", "walk") == controllers / "humanoid" / "walk.pt"
    assert shipped_controller("humanoid", "motions/humanoid/walk.txt") is None  # a clip file, not a name
    text = next_steps(_fake_trainer(run, spec), 50_000)
    assert text.splitlines()[-1] == "  a longer-trained walk:  awr-mimic view --checkpoint humanoid/walk"
    # with its metadata, the line says how good it is
    from awr_mimic.learning.checkpoint import save_checkpoint

    save_checkpoint(controllers / "humanoid" / "walk.pt",
                    {"kind": "controller", "metadata": {"normalized_return": 0.4123, "samples": 12_300_000}})
    text = next_steps(_fake_trainer(run, spec), 50_000)
    assert text.splitlines()[-1] == ("  a longer-trained walk (normalised return 0.41, 12.3M samples):  "
                                     "awr-mimic view --checkpoint humanoid/walk")

    gym = next_steps(_fake_trainer(run, EnvSpec("CartPole-v1", {})), 1000)
    assert "awr-mimic view" not in gym and f"awr-mimic eval --checkpoint {run}" in gym and "longer-trained" not in gym
    assert f"awr-mimic plot {run} --out {run / 'curve.svg'} --y eval_mean_return,mean_return" in gym


def test_eval_line():
    from awr_mimic.cli.train import eval_line

    assert eval_line({"iteration": 3, "samples": 600, "time_s": 1.0}) is None
    row = {"iteration": 10, "samples": 43360, "time_s": 492.4, "mean_return": 12.7, "normalized_return": 0.0212,
           "mean_length": 24.1, "eval_mean_return": 17.3, "eval_normalized_return": 0.0291, "eval_mean_length": 31.4}
    line = eval_line(row)
    assert line == ("iter   10      43,360 samples    8m12s  normalised return 0.021 train / 0.029 eval, "
                    "episode length 24 train / 31 eval")
    gym = dict(row, normalized_return=float("nan"), eval_normalized_return=float("nan"), mean_return=120.0,
               eval_mean_return=200.0)
    assert "return 120 train / 200 eval" in eval_line(gym) and "normalised" not in eval_line(gym)


def test_short_runs_evaluate_often_enough_to_show_the_return_rising(tmp_path):
    import types

    from awr_mimic.cli.train import _evaluate_often_enough
    from awr_mimic.learning.config import preset

    run = types.SimpleNamespace(cfg=preset("mimic"), run_dir=tmp_path)
    _evaluate_often_enough(run, 50_000)  # the README's first command: 13 iterations
    assert run.cfg.eval_every == 2 and "eval_every: 2" in (tmp_path / "config.yaml").read_text()
    long_run = types.SimpleNamespace(cfg=preset("mimic"), run_dir=None)
    _evaluate_often_enough(long_run, 50_000_000)
    assert long_run.cfg.eval_every == preset("mimic").eval_every


def test_resume_may_change_step_sizes_and_exploration_but_not_the_nets(tmp_path, capsys):
    from awr_mimic.learning.checkpoint import load_checkpoint

    run = tmp_path / "run"
    assert main(["train", "--env", "Pendulum-v1", "--samples", "400", "--workers", "0", "--out", str(run),
                 "--no-progress", *SMALL]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--samples", "800", "--no-progress",
                 "--set", "actor_lr=7e-4", "--set", "action_std=0.1", "--set", "actor_steps=3"]) == 0
    err = capsys.readouterr().err
    assert "resume: actor_lr 0.0003 -> 0.0007" in err and "resume: action_std 0.4 -> 0.1" in err
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["config"]["actor_lr"] == 7e-4 and state["config"]["action_std"] == 0.1
    # the loaded optimiser state carried the old step size; the new one is in force
    assert [g["lr"] for g in state["learner"]["actor_opt"]["param_groups"]] == [7e-4]
    assert yaml.safe_load((run / "config.yaml").read_text())["actor_steps"] == 3

    # values are stored scaled by (1 - gamma), so the discount may change; the buffer's size may not
    assert main(["train", "--resume", str(run), "--samples", "1000", "--no-progress", "--set", "gamma=0.9"]) == 0
    assert "resume: gamma 0.99 -> 0.9" in capsys.readouterr().err
    assert load_checkpoint(run / "checkpoint.pt")["config"]["gamma"] == 0.9
    assert main(["train", "--resume", str(run), "--samples", "1200", "--set", "buffer_size=999"]) == 2
    err = capsys.readouterr().err.strip()
    assert "config buffer_size: a resumed run keeps the value it was made with" in err and len(err.splitlines()) == 1
    assert main(["train", "--resume", str(run), "--samples", "1200", "--set", "critic_hidden=[32]"]) == 2
    assert "config critic_hidden: a resumed run keeps" in capsys.readouterr().err
