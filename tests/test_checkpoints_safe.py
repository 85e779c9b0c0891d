"""Checkpoints load without unpickling code; slim checkpoints; resume without the replay buffer."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from awr_mimic import Trainer
from awr_mimic.cli import main
from awr_mimic.errors import AwrMimicError, ConfigError
from awr_mimic.learning.checkpoint import FORMAT, load_checkpoint, write_slim

FAST = {"samples_per_iter": 64, "actor_steps": 10, "critic_steps": 5, "hidden": (16,), "eval_every": 2,
        "eval_episodes": 2, "buffer_size": 300}


def _params(t):
    return {k: v.clone() for k, v in t.algo.actor.state_dict().items()} | \
        {f"c.{k}": v.clone() for k, v in t.algo.critic.state_dict().items()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny CartPole run: 4 iterations, checkpoint.pt with buffer chunks, best.pt."""
    d = tmp_path_factory.mktemp("ckpt") / "run"
    with Trainer("awr", env="CartPole-v1", seed=2, config=FAST, workers=0, run_dir=d) as t:
        t.train(iterations=4)
    return d


def _walk(obj, where="state"):
    """Every leaf type: tensors and plain values only."""
    if isinstance(obj, dict):
        assert type(obj) is dict, f"{where}: {type(obj).__name__}"
        for k, v in obj.items():
            assert type(k) in (str, int), f"{where}: key {k!r}"
            yield from _walk(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{where}[{i}]")
    else:
        yield where, type(obj)


@pytest.mark.parametrize("name", ["checkpoint.pt", "best.pt"])
def test_checkpoints_hold_plain_types_only(run, name):
    raw = torch.load(run / name, map_location="cpu", weights_only=True)
    assert raw["format"] == FORMAT == 2
    bad = [(w, t) for w, t in _walk(raw) if t not in (torch.Tensor, type(None), bool, int, float, str)]
    assert not bad, bad[:5]
    assert raw["kind"] == ("run" if name == "checkpoint.pt" else "slim")
    assert (raw["buffer"] is None) == (name == "best.pt")


class _OpenFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class _System:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.parametrize("payload", [_OpenFile, _System])
def test_a_pickled_payload_is_refused_in_one_line_and_never_runs(tmp_path, capsys, payload):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": 2, "kind": "run", "x": payload(str(marker))}, evil)
    with pytest.raises(AwrMimicError) as err:
        load_checkpoint(evil)
    msg = str(err.value)
    assert "refusing to load: it needs unpickling code" in msg and "awr-mimic convert-checkpoint" in msg
    assert "\n" not in msg and not marker.exists()

    assert main(["eval", "--checkpoint", str(evil), "--workers", "0"]) == 2
    e = capsys.readouterr().err
    assert "refusing to load" in e and len(e.strip().splitlines()) == 1 and "Traceback" not in e
    assert not marker.exists()

    rundir = tmp_path / "r"
    rundir.mkdir()
    shutil.copy(evil, rundir / "checkpoint.pt")
    assert main(["train", "--resume", str(rundir), "--no-progress"]) == 2
    assert "refusing to load" in capsys.readouterr().err and not marker.exists()


def test_a_damaged_file_is_not_taken_for_a_pickle(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(AwrMimicError, match="cannot read checkpoint .*damaged, or not a torch file"):
        load_checkpoint(bad)


def _as_format_1(state: dict) -> dict:
    """What awr-mimic 0.1 wrote: numpy arrays, the legacy numpy RNG tuple, tuples, no kind."""
    s = {k: v for k, v in state.items() if k not in ("path", "name", "kind")}
    s["format"] = 1
    learner = dict(s["learner"])
    learner["normalizer"] = {**learner["normalizer"], "mean": learner["normalizer"]["mean"].numpy(),
                             "m2": learner["normalizer"]["m2"].numpy()}
    s["learner"] = learner
    py = s["rng"]["python"]
    npst = s["rng"]["numpy"]
    legacy = ("MT19937", npst["state"]["key"].numpy().astype(np.uint32), npst["state"]["pos"],
              npst["has_gauss"], npst["gauss"])
    s["rng"] = {"python": (py[0], tuple(py[1]), py[2]), "numpy": legacy, "torch": s["rng"]["torch"]}
    s["buffer"] = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in s["buffer"].items()}
    s["last_eval"] = {k: np.float64(v) for k, v in (s["last_eval"] or {}).items() if isinstance(v, float)}
    return s


def test_a_format_1_checkpoint_is_refused_then_converted_knowingly(run, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(run, a)
    shutil.copytree(run, b)
    old = b / "old.pt"
    torch.save(_as_format_1(load_checkpoint(run)), old)
    with pytest.raises(AwrMimicError, match="refusing to load.*convert-checkpoint"):
        load_checkpoint(old)

    assert main(["convert-checkpoint", str(old), "--out", str(b / "new.pt")]) == 2  # no --trust: only the risk
    e = capsys.readouterr().err
    assert "--trust" in e and "run any code" in e and len(e.strip().splitlines()) == 1
    assert not (b / "new.pt").exists()

    assert main(["convert-checkpoint", str(old), "--out", str(b / "new.pt"), "--trust"]) == 0
    assert "format 2" in capsys.readouterr().out
    new = load_checkpoint(b / "new.pt")  # weights_only
    assert new["format"] == 2 and new["kind"] == "run"
    os.replace(b / "new.pt", b / "checkpoint.pt")
    # the converted run continues exactly like the original
    with Trainer.resume(a) as ra:
        ra.train(iterations=1)
        ref = _params(ra)
    with Trainer.resume(b) as rb:
        rb.train(iterations=1)
        for k, v in _params(rb).items():
            assert torch.equal(v, ref[k]), k


def test_slim_checkpoint_resumes_in_a_fresh_dir(run, tmp_path, capsys):
    full = load_checkpoint(run)
    slim = write_slim(run, tmp_path / "slim.pt")
    s = load_checkpoint(slim)
    assert s["kind"] == "slim" and s["buffer"] is None and s["counters"] == full["counters"]
    with pytest.raises(ConfigError, match="--out"):
        Trainer.resume(slim)
    capsys.readouterr()
    with Trainer.resume(slim, out=tmp_path / "cont") as r:
        err = capsys.readouterr().err.strip()
        assert err.startswith("resume: no replay buffer in") and "refilling it from new samples" in err
        assert len(err.splitlines()) == 1
        assert r.iteration == full["counters"]["iteration"] and r.samples == full["counters"]["samples"]
        assert r.episodes == full["counters"]["episodes"] and len(r.algo.buffer) == 0
        for k, v in r.algo.actor.state_dict().items():
            assert torch.equal(v, full["learner"]["actor"][k]), k
        np.testing.assert_array_equal(r.algo.normalizer.mean, full["learner"]["normalizer"]["mean"].numpy())
        r.train(iterations=2)
        assert r.iteration == full["counters"]["iteration"] + 2 and len(r.algo.buffer) > 0
    rows = (tmp_path / "cont" / "progress.csv").read_text().splitlines()
    assert [int(x.split(",")[0]) for x in rows[1:]] == [5, 6]
    with pytest.raises(ConfigError, match="already holds a run"):  # never resume over another run
        Trainer.resume(slim, out=tmp_path / "cont")


def test_slim_command_and_resume_when_buffer_chunks_are_gone(run, tmp_path, capsys):
    out = tmp_path / "run.slim.pt"
    assert main(["slim", str(run), "--out", str(out)]) == 0
    assert "no replay buffer" in capsys.readouterr().out
    assert out.stat().st_size < (run / "checkpoint.pt").stat().st_size
    assert main(["train", "--resume", str(out), "--out", str(tmp_path / "c"), "--samples", "400",
                 "--no-progress"]) == 0
    assert "resume: no replay buffer" in capsys.readouterr().err
    # without a buffer to keep, a slim checkpoint's run may take another buffer size
    assert main(["train", "--resume", str(out), "--out", str(tmp_path / "c2"), "--samples", "400",
                 "--no-progress", "--set", "buffer_size=123"]) == 0
    assert "-> 123" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "c2" / "checkpoint.pt")["config"]["buffer_size"] == 123
    with Trainer.resume(tmp_path / "c2") as r2:
        assert r2.algo.buffer.capacity == 123

    # a committed run directory: checkpoint.pt, progress.csv, config.yaml - the chunks were not kept
    kept = tmp_path / "kept"
    kept.mkdir()
    for f in ("checkpoint.pt", "progress.csv", "config.yaml"):
        shutil.copy(run / f, kept / f)
    with Trainer.resume(kept) as r:
        err = capsys.readouterr().err.strip()
        assert err.startswith("resume: buffer chunks missing in") and len(err.splitlines()) == 1
        it = r.iteration
        r.train(iterations=1)
        assert r.iteration == it + 1 and len(r.algo.buffer) > 0


def test_a_controller_does_not_resume(run, tmp_path):
    ctl = write_slim(run, tmp_path / "c.pt", controller=True)
    state = load_checkpoint(ctl)
    assert state["kind"] == "controller" and set(state["learner"]) == {"actor", "normalizer"}
    assert "critic_opt" not in state and "buffer" not in state
    assert state["metadata"]["samples"] == load_checkpoint(run)["counters"]["samples"]
    with pytest.raises(ConfigError, match="controller"):
        Trainer.resume(ctl, out=tmp_path / "x")
