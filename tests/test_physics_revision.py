"""Checkpoints store the physics revision they trained in; loading an older one says what changed."""
from __future__ import annotations

from pathlib import Path

import pytest

from awr_mimic import Trainer
from awr_mimic.cli import main
from awr_mimic.learning.checkpoint import _safe_load, load_checkpoint, save_checkpoint, write_slim
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.physics_revision import PHYSICS_REVISION, physics_changes

SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "controllers"


@pytest.fixture(scope="module")
def walk_run(tmp_path_factory):
    """An untrained humanoid walk run (nothing here trains) and its controller."""
    d = tmp_path_factory.mktemp("rev")
    spec = EnvSpec("awr_mimic/Mimic-v0", {"character": "humanoid", "clip": "walk", "action_mode": "residual"})
    with Trainer("awr", spec, preset="mimic", config={"hidden": (8,), "eval_every": 0, "envs_per_worker": 1},
                 workers=0, seed=0, run_dir=d / "run") as t:
        t.save()
    return d / "run", write_slim(d / "run", d / "walk.pt", controller=True)


def _older(path: Path, out: Path, revision) -> Path:
    state = _safe_load(path)
    state.pop("format")
    if revision is None:
        state.pop("physics_revision", None)  # as written before revisions were stored
    else:
        state["physics_revision"] = revision
    save_checkpoint(out, state)
    return out


def test_run_slim_and_controller_store_the_current_revision(walk_run, tmp_path):
    run, controller = walk_run
    slim = write_slim(run, tmp_path / "slim.pt")
    for path in (run / "checkpoint.pt", slim, controller):
        assert _safe_load(path)["physics_revision"] == PHYSICS_REVISION, path


def test_eval_of_an_older_controller_says_what_changed_and_still_runs(walk_run, tmp_path, capsys):
    _, controller = walk_run
    assert main(["eval", "--checkpoint", str(controller), "--episodes", "1", "--workers", "1"]) == 0
    assert "older physics" not in capsys.readouterr().err
    for revision in (None, 1):
        old = _older(controller, tmp_path / f"old{revision}.pt", revision)
        assert main(["eval", "--checkpoint", str(old), "--episodes", "1", "--workers", "1"]) == 0
        captured = capsys.readouterr()
        notes = [line for line in captured.err.splitlines() if "older physics" in line]
        assert len(notes) == 1 and "friction 0.5" in notes[0] and str(old) in notes[0]
        assert "normalised return" in captured.out


def test_resuming_an_older_run_says_so_and_then_stores_the_current_revision(walk_run, tmp_path, capsys):
    run, _ = walk_run
    old = _older(write_slim(run, tmp_path / "slim.pt"), tmp_path / "old.pt", None)
    capsys.readouterr()
    with Trainer.resume(old, out=tmp_path / "cont") as r:
        r.save()
    err = capsys.readouterr().err
    assert sum("older physics" in line for line in err.splitlines()) == 1
    assert load_checkpoint(tmp_path / "cont")["physics_revision"] == PHYSICS_REVISION


def test_unknown_or_current_revisions():
    assert physics_changes(PHYSICS_REVISION) is None
    assert "friction" in physics_changes(1) and physics_changes("garbage") == physics_changes(1)


@pytest.mark.parametrize("path", sorted(SHIPPED.rglob("*.pt")), ids=lambda p: p.relative_to(SHIPPED).as_posix())
def test_every_shipped_controller_trained_in_todays_physics(path):
    # a physics change (a new revision) must come with controllers trained, or trained on, in it
    assert _safe_load(path).get("physics_revision") == PHYSICS_REVISION
