"""`awr-mimic train --minutes`, `awr-mimic bench arms` and the table of `awr-mimic plot --table`."""
import csv
import math

import pytest

from awr_mimic.cli import main
from awr_mimic.learning.curves import _count, points_table, read_progress, value_at

TINY = ["--samples-per-iter", "200", "--actor-steps", "10", "--critic-steps", "5", "--hidden", "16",
        "--eval-every", "1", "--eval-episodes", "1", "--no-progress", "--workers", "0"]


def _progress(path, rows):
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "progress.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["iteration", "samples", "time_s", "eval_normalized_return"])
        for i, (samples, t, ev) in enumerate(rows, 1):
            w.writerow([i, samples, t, "" if ev is None else ev])
    return path


def _table_rows(text):
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]


def test_table_picks_the_last_eval_at_or_before_each_point(tmp_path):
    a = _progress(tmp_path / "a", [(100_000, 100, None), (200_000, 250, 0.02), (300_000, 400, None),
                                   (400_000, 600, 0.04), (500_000, 700, 0.05)])
    b = _progress(tmp_path / "b", [(50_000, 200, 0.01), (100_000, 400, None)])
    cols = read_progress(a)
    assert value_at(cols, "time_s", 60) is None  # no eval yet at 1 min
    assert value_at(cols, "time_s", 300) == 0.02  # the eval at 250 s, not the empty row at 300 s
    assert value_at(cols, "samples", 400_000) == 0.04  # a point exactly on a row counts
    assert value_at(cols, "samples", 600_000) is None  # the run ended before
    text = points_table({"a": cols, "b": read_progress(b), "c": None}, [2, 5, 10], [100_000, 200_000, 450_000])
    head, _, *rows = _table_rows(text)
    assert head == ["run", "2 min", "5 min", "10 min", "100k", "200k", "450k", "2nd half mean", "samples",
                    "samples/s"]
    # 2nd half mean: evals at or after 400 s, halfway from a's first row (100 s) to its last (700 s):
    # 0.04, 0.05; b's only eval (200 s) is in the first half of 200-400 s
    assert rows[0] == ["a", "-", "0.020", "0.040", "-", "0.020", "0.040", "0.045", "500k", "714"]
    assert rows[1] == ["b", "-", "0.010", "-", "0.010", "-", "-", "-", "100k", "250"]
    assert rows[2] == ["c"] + ["-"] * 9  # a run not made yet
    assert text.splitlines()[0].startswith("eval_normalized_return: the last periodic eval at or before")


def test_plot_table_prints_the_same_table(tmp_path, capsys):
    a = _progress(tmp_path / "A1", [(100_000, 300, 0.03), (200_000, 600, 0.04)])
    assert main(["plot", str(a), "--table", "--points-minutes", "5,10", "--points-samples", "100k,2e5"]) == 0
    out = capsys.readouterr().out
    assert out == points_table({"A1": read_progress(a)}, [5, 10], [100_000, 200_000])
    assert not (tmp_path / "curve.svg").exists() and "wrote" not in out  # no SVG unless --out is given
    assert main(["plot", str(a), "--table"]) == 2
    assert "--points-minutes" in capsys.readouterr().err
    assert main(["plot", str(a), "--table", "--points-samples", "lots"]) == 2
    assert "--points-samples" in capsys.readouterr().err


def test_minutes_stops_a_run_with_a_checkpoint_and_the_final_eval(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--env", "CartPole-v1", "--minutes", "0.02", "--samples", "1e6", "--seed", "0",
                 "--out", str(run), *TINY]) == 0
    out = capsys.readouterr().out
    with open(run / "progress.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert 1 <= len(rows) and int(rows[-1]["samples"]) < 100_000  # stopped long before its sample total
    assert (run / "checkpoint.pt").exists() and "stopped after the 0.02-minute budget" in out
    assert "eval over 10 deterministic episodes" in out
    assert f"awr-mimic train --resume {run} --minutes 0.02 --samples 2000000" in out


def test_minutes_without_samples_is_unbounded_and_next_steps_stay_sane(tmp_path):
    from types import SimpleNamespace

    from awr_mimic.cli.train import next_steps
    from awr_mimic.learning.envspec import EnvSpec

    fake = SimpleNamespace(run_dir=tmp_path, env_spec=EnvSpec("awr_mimic/Mimic-v0", {"character": "humanoid",
                                                                                    "clip": "walk"}))
    line = [x for x in next_steps(fake, None, 12).splitlines() if "train on" in x][0]
    assert line.endswith(f"awr-mimic train --resume {tmp_path} --minutes 12")
    line = [x for x in next_steps(fake, 5000).splitlines() if "train on" in x][0]
    assert line.endswith(f"awr-mimic train --resume {tmp_path} --samples 10000")


def test_trainer_train_max_seconds_zero_runs_no_iteration():
    from awr_mimic import Trainer

    with Trainer("awr", env="CartPole-v1", seed=0, workers=0, config={"hidden": [8], "samples_per_iter": 100}) as t:
        result = t.train(max_seconds=0)
    assert result["iterations"] == 0 and result["stopped_by"] == "time"


ARMS = """
minutes = 0.01
seed = 0
env_id = "CartPole-v1"
samples = 100000
points_minutes = [0.005, 0.01]
points_samples = [200, 400]
[common]
samples_per_iter = 200
actor_steps = 10
critic_steps = 5
hidden = [16]
eval_every = 1
eval_episodes = 1
workers = 0
[[arm]]
name = "a"
[[arm]]
name = "b"
set = { beta = 0.5 }
"""


def test_bench_arms_runs_skips_finished_and_restarts_half_finished(tmp_path, capfd):
    arms = tmp_path / "arms.toml"
    arms.write_text(ARMS)
    out = tmp_path / "out"
    assert main(["bench", "arms", str(arms), "--out", str(out)]) == 0
    text = capfd.readouterr().out
    for name in ("a", "b"):
        assert (out / name / "done").is_file() and (out / name / "checkpoint.pt").is_file()
        assert f"arm {name}: " in text and f"--out {out / name} --no-progress" in text
    assert "-m awr_mimic train --env CartPole-v1 --seed 0 --minutes 0.01 --samples 100000" in text
    assert "--set beta=0.5" in text and "--set hidden=16" in text
    rows = _table_rows(text)
    assert rows[0] == ["run", "0.005 min", "0.01 min", "200", "400", "2nd half mean", "samples", "samples/s"]
    assert [r[0] for r in rows[2:]] == ["a", "b"]
    assert all(r[-2] != "-" for r in rows[2:])  # samples at the end

    # b killed half-way: no done marker, a stale row; a is finished and skipped
    (out / "b" / "done").unlink()
    with open(out / "b" / "progress.csv", "a") as f:
        f.write("99,99999,1.0\n")
    assert main(["bench", "arms", str(arms), "--out", str(out), "--table-only"]) == 0
    assert "b (unfinished)" in capfd.readouterr().out
    assert main(["bench", "arms", str(arms), "--out", str(out)]) == 0
    text = capfd.readouterr().out
    assert "arm a (1/2): finished before, skipped" in text and "-m awr_mimic train" in text
    assert text.count("-m awr_mimic train") == 1  # only b ran
    assert f"arm b: {out / 'b'} holds a half-finished run" in text and "from scratch" in text
    assert (out / "b" / "done").is_file()
    iterations = read_progress(out / "b")["iteration"]
    assert iterations == [float(i) for i in range(1, len(iterations) + 1)] and 99.0 not in iterations


@pytest.mark.parametrize("body, extra, message", [
    ("minutes = 1\nenv_id = [", [], "not valid TOML"),
    (ARMS.replace("hidden = [16]", "hiden = [16]"), [], "arm 'a': unknown config key 'hiden'; did you mean 'hidden'"),
    (ARMS.replace('name = "b"', 'name = "b"\nenv = { gravity = 3 }'), [], "arm 'b': env 'CartPole-v1'"),
    (ARMS.replace("seed = 0", "sed = 0"), [], "unknown key 'sed'; did you mean 'seed'"),
    (ARMS.replace("minutes = 0.01", ""), [], "say how long each arm trains"),
    (ARMS, ["--only", "a,c"], "unknown arm in"),
    ('minutes = 1\ncharacter = "humanoid"\nclip = "walk"\n[[arm]]\nname = "x"\nenv = { action_mod = "residual" }',
     [], "unknown env option 'action_mod'; did you mean 'action_mode'"),
])
def test_bench_arms_errors_are_one_line_before_anything_runs(tmp_path, capfd, body, extra, message):
    arms = tmp_path / "arms.toml"
    arms.write_text(body)
    assert main(["bench", "arms", str(arms), "--out", str(tmp_path / "out"), *extra]) == 2
    captured = capfd.readouterr()
    err = captured.err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists() and "awr_mimic train" not in captured.out


def test_shipped_arms_file_reproduces_the_documented_commands():
    from pathlib import Path

    from awr_mimic.bench.arms import arm_command, load_arms

    root = Path(__file__).resolve().parent.parent
    plan = load_arms(root / "docs" / "arms" / "humanoid_walk_defaults.toml")
    assert plan.minutes == 12 and plan.seed == 0 and plan.y == "eval_normalized_return"
    cmds = {a.name: arm_command(plan, a, Path("runs/arms") / a.name)[3:] for a in plan.arms}
    assert list(cmds) == ["A0_absolute", "A1_residual", "A2_target_obs", "A3_drift_termination"]
    common = ["--set", "buffer_size=50000", "--set", "eval_every=5", "--set", "eval_episodes=8",
              "--set", "learner_threads=1"]
    for name, cmd in cmds.items():
        assert cmd[:9] == ["train", "--character", "humanoid", "--clip", "walk", "--seed", "0", "--minutes", "12"]
        assert cmd[11:14] == ["--no-progress", *common[:2]] and " ".join(common) in " ".join(cmd)
    assert cmds["A0_absolute"][-2:] == ["--env-option", "action_mode=absolute"]
    assert cmds["A2_target_obs"][-2:] == ["--env-option", "target_obs_steps=[1,2,3]"]
    assert cmds["A3_drift_termination"][-2:] == ["--env-option", "pose_termination=1.0"]
    assert math.isclose(plan.points_minutes[-1], 11.5)


def test_bench_arms_can_all_resume_one_checkpoint_and_count_from_it(tmp_path, capfd):
    from awr_mimic.bench.arms import arm_command, load_arms

    base = tmp_path / "base"
    assert main(["train", "--env", "CartPole-v1", "--samples", "400", "--seed", "0", "--out", str(base), *TINY]) == 0
    start = read_progress(base)
    arms = tmp_path / "arms.toml"
    arms.write_text(f'minutes = 0.01\nsamples = 100000\nresume = "{base}"\npoints_samples = [200]\n'
                    '[common]\neval_every = 1\n[[arm]]\nname = "same"\n[[arm]]\nname = "slower"\n'
                    'set = { actor_lr = 1e-5 }\n')
    plan = load_arms(arms)
    assert plan.start == (start["time_s"][-1], start["samples"][-1]) and plan.y == "eval_mean_return"
    cmd = arm_command(plan, plan.arms[1], tmp_path / "out" / "slower")
    assert cmd[3:8] == ["train", "--resume", str(base / "checkpoint.pt"), "--minutes", "0.01"]
    assert "--set" in cmd and "actor_lr=1e-05" in cmd and "--character" not in cmd and "--seed" not in cmd
    capfd.readouterr()
    assert main(["bench", "arms", str(arms), "--out", str(tmp_path / "out")]) == 0
    text = capfd.readouterr()
    assert "resume: actor_lr 0.0001 -> 1e-05" in text.err  # CartPole: the discrete variant's SGD step
    slower = read_progress(tmp_path / "out" / "slower")
    assert slower["iteration"][0] == start["iteration"][-1] + 1  # it went on from the checkpoint
    rows = {r[0]: r for r in _table_rows(text.out)[2:]}
    # the table counts samples (and time) from the checkpoint's
    assert rows["slower"][-2] == _count(slower["samples"][-1] - start["samples"][-1])


@pytest.mark.parametrize("extra, message", [
    ('[[arm]]\nname = "x"\nset = { obs_clip = 5.0 }', "a resumed run keeps the value it was made with"),
    ('[[arm]]\nname = "x"\nset = { buffer_size = 999 }', "buffer_size too when resuming a slim checkpoint"),
    ('[[arm]]\nname = "x"\nenv = { sim_hz = 120 }', "a resumed run keeps its env"),
    ('env_id = "CartPole-v1"\n[[arm]]\nname = "x"', "env_id comes from the checkpoint"),
])
def test_resumed_arms_refuse_what_a_resume_cannot_change(tmp_path, capfd, extra, message):
    base = tmp_path / "base"
    assert main(["train", "--env", "CartPole-v1", "--samples", "200", "--out", str(base), *TINY]) == 0
    arms = tmp_path / "arms.toml"
    arms.write_text(f'minutes = 1\nresume = "{base}"\n{extra}\n')
    capfd.readouterr()
    assert main(["bench", "arms", str(arms), "--out", str(tmp_path / "out")]) == 2
    err = capfd.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
