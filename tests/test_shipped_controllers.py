"""Shipped controllers: names resolve to the shipped files, humanoid/walk acts, and a controller shipped
without its clip (the dog's trot: DeepMimic's dog3d_trot.txt, licence unknown) runs on the user's copy."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from awr_mimic.cli import main
from awr_mimic.learning.checkpoint import list_controllers, load_checkpoint, open_policy, resolve_checkpoint

REPO = Path(__file__).resolve().parents[1]
DOG_TROT = REPO.parent / "shared" / "data" / "deepmimic" / "motions" / "dog3d_trot.txt"


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.fixture
def shipped_walk(monkeypatch):
    monkeypatch.delenv("AWR_MIMIC_CONTROLLERS", raising=False)
    entry = next((c for c in list_controllers() if c["name"] == "humanoid/walk"), None)
    assert entry is not None, "assets/controllers/humanoid/walk.pt is not installed"
    return Path(entry["path"])


def test_a_name_beside_a_same_named_folder_is_the_shipped_controller(shipped_walk, tmp_path, monkeypatch, capsys):
    """A cloned folder humanoid/walk/ holding a crafted checkpoint.pt does not take the name over."""
    crafted = tmp_path / "humanoid" / "walk"
    crafted.mkdir(parents=True)
    (crafted / "checkpoint.pt").write_bytes(b"crafted")
    monkeypatch.chdir(tmp_path)
    path, name = resolve_checkpoint("humanoid/walk")
    assert name == "humanoid/walk" and path.resolve() == shipped_walk.resolve()
    assert "write ./humanoid/walk" in _one_line(capsys.readouterr().err)  # says how to reach the folder
    # an explicit path reaches the folder: ./x/y, an absolute path, or a .pt name
    for explicit in ("./humanoid/walk", str(crafted)):
        path, name = resolve_checkpoint(explicit)
        assert name is None and path.resolve() == (crafted / "checkpoint.pt").resolve()
    (crafted / "best.pt").write_bytes(b"crafted")
    path, name = resolve_checkpoint("humanoid/walk/best.pt")
    assert name is None and path.resolve() == (crafted / "best.pt").resolve()
    assert open_policy("humanoid/walk").label == "controller humanoid/walk"


def test_the_shipped_walk_loads_and_acts_on_a_fresh_env(shipped_walk):
    ck = open_policy("humanoid/walk")
    assert ck.kind == "controller" and ck.env_spec.kwargs["clip"] == "walk"
    env = ck.env_spec.make()
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (ck.space.obs_dim,)
        for _ in range(5):
            action = ck.space.to_env_action(ck.policy.act(obs, None, deterministic=True))
            assert action.shape == env.action_space.shape == (ck.space.act_dim,)
            assert np.all(np.isfinite(action)) and env.action_space.contains(action.astype(np.float32))
            obs, reward, terminated, truncated, _ = env.step(action)
            assert np.all(np.isfinite(obs)) and np.isfinite(reward) and not terminated
    finally:
        env.close()


def test_every_shipped_controller_has_its_readme_row_scores_and_push_test(monkeypatch):
    """Each file in assets/controllers carries its 16-episode scores and its push test, and the
    README's results table has a row quoting that normalised return and weakest push."""
    from awr_mimic.learning.checkpoint import read_metadata

    monkeypatch.delenv("AWR_MIMIC_CONTROLLERS", raising=False)
    readme = (REPO / "README.md").read_text()
    rows = {line.split("`")[1]: line for line in readme.splitlines() if line.startswith("| `")}
    shipped = list_controllers()
    assert {"humanoid/walk", "humanoid/spinkick", "dog/trot"} <= {c["name"] for c in shipped}
    for entry in shipped:
        meta = read_metadata(entry["path"])
        assert meta["eval_episodes"] >= 16, entry["name"]
        push = meta["push"]
        weakest = push[push["weakest"]]["survived_N"]
        row = rows.get(entry["name"])
        assert row is not None, f"README has no results row for {entry['name']}"
        assert f"**{meta['normalized_return']:.3f}**" in row, row
        if weakest is None:  # fell without a push from one of the start phases: the row says so and where
            phase = push[push["weakest"]]["failed_phase"]
            assert f"falls unpushed from phase {phase:g}" in row, row
            continue
        assert weakest == min(push[d]["survived_N"] for d in push["directions"])
        assert f"{weakest:g} N {push['weakest']}" in row, row


# -- a controller shipped without its clip ---------------------------------------------------------------
needs_clip = pytest.mark.skipif(not DOG_TROT.is_file(), reason=f"{DOG_TROT} not here (DeepMimic's dog clips)")


@pytest.fixture(scope="module")
def dog_trot(tmp_path_factory):
    """dog/trot as `awr-mimic slim --controller` writes it from a run trained with --clip .../dog3d_trot.txt
    (an untrained policy: nothing here trains)."""
    from awr_mimic import Trainer
    from awr_mimic.learning.checkpoint import write_slim
    from awr_mimic.learning.envspec import EnvSpec

    d = tmp_path_factory.mktemp("dog")
    spec = EnvSpec("awr_mimic/Mimic-v0", {"character": "dog", "clip": str(DOG_TROT), "action_mode": "residual"})
    with Trainer("awr", spec, preset="mimic", config={"hidden": (8,), "eval_every": 0, "envs_per_worker": 1},
                 workers=0, seed=0,
                 run_dir=d / "run") as t:
        t.save()
    out = write_slim(d / "run", d / "controllers" / "dog" / "trot.pt", controller=True)
    return d / "controllers", out


@pytest.fixture
def dog_env(dog_trot, tmp_path, monkeypatch):
    controllers, _ = dog_trot
    monkeypatch.setenv("AWR_MIMIC_CONTROLLERS", str(controllers))
    monkeypatch.delenv("AWR_MIMIC_MOTIONS", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./motions here
    return tmp_path


@needs_clip
def test_the_controller_stores_the_clip_by_name_with_its_file_and_hash(dog_trot):
    from awr_mimic.characters.clips import file_sha256

    _, path = dog_trot
    for state in (load_checkpoint(path), load_checkpoint(path.parents[2] / "run")):  # controller and run
        spec = state["env_spec"]
        assert spec["kwargs"]["clip"] == "trot" and spec["kwargs"]["character"] == "dog"
        assert spec["clip_origin"] == {"name": "trot", "file": "dog3d_trot.txt", "sha256": file_sha256(DOG_TROT)}
        assert str(DOG_TROT.parent) not in str(spec)  # no path of this machine in the file


@needs_clip
def test_without_the_clip_one_line_says_which_clip_and_where(dog_env, capsys):
    assert main(["eval", "--checkpoint", "dog/trot", "--episodes", "1", "--workers", "0"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "DeepMimic's dog3d_trot.txt" in line and "motions/dog/trot.txt" in line and "--clip PATH" in line

    from awr_mimic.errors import AwrMimicError
    from awr_mimic_viewer.policy import make_session

    with pytest.raises(AwrMimicError, match="put your copy at motions/dog/trot.txt or pass --clip PATH"):
        make_session(checkpoint="dog/trot")


@needs_clip
def test_eval_export_view_and_push_run_on_the_users_copy(dog_env, capsys):
    clip = str(DOG_TROT)
    assert main(["eval", "--checkpoint", "dog/trot", "--clip", clip, "--episodes", "1", "--workers", "0"]) == 0
    assert "deterministic episodes from controller dog/trot" in capsys.readouterr().out

    assert main(["export", "--checkpoint", "dog/trot", "--clip", clip, "--out", str(dog_env / "trot.onnx"),
                 "--parity-steps", "8"]) == 0
    assert (dog_env / "trot.onnx").stat().st_size > 0

    from awr_mimic_viewer.policy import make_session

    session = make_session(checkpoint="dog/trot", clip=clip)
    try:
        assert session.character.name == "dog" and session.clip_source == clip
        for _ in range(3):
            session.advance()
    finally:
        session.close()

    capsys.readouterr()
    assert main(["eval", "--checkpoint", "dog/trot", "--clip", clip, "--episodes", "0", "--push", "--push-episode",
                 "0.5", "--push-settle", "0.1", "--push-phases", "0.1", "--push-max", "50", "--push-step", "50",
                 "--push-refine", "0", "--push-directions", "forward", "--workers", "0"]) == 0
    assert "push test of controller dog/trot" in capsys.readouterr().out


@needs_clip
def test_a_copy_in_the_users_motions_folder_is_found_without_clip(dog_env, capsys):
    (dog_env / "motions" / "dog").mkdir(parents=True)
    shutil.copy(DOG_TROT, dog_env / "motions" / "dog" / "trot.txt")
    assert main(["eval", "--checkpoint", "dog/trot", "--episodes", "1", "--workers", "0"]) == 0
    out = capsys.readouterr()
    assert "clip='trot'" in out.out and "differs" not in out.err


@needs_clip
def test_slim_names_the_clip_and_rewrites_a_path_it_stored(dog_trot, tmp_path, capsys):
    """--clip-name sets the stored name; a checkpoint of an older awr-mimic that stored the clip as a
    path is refused until the user's copy is given (--clip), then stored by name."""
    import torch

    _, path = dog_trot
    run = path.parents[2] / "run"
    assert main(["slim", str(run), "--out", str(tmp_path / "a.pt"), "--controller", "--clip-name", "dogtrot"]) == 0
    assert "clip 'dogtrot' from dog3d_trot.txt" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "a.pt")["env_spec"]["kwargs"]["clip"] == "dogtrot"

    old = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    old["env_spec"] = {"id": "awr_mimic/Mimic-v0", "kwargs": {**old["env_spec"]["kwargs"], "clip": str(DOG_TROT)}}
    torch.save(old, tmp_path / "old.pt")
    assert main(["slim", str(tmp_path / "old.pt"), "--out", str(tmp_path / "b.pt"), "--controller"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "refusing env_spec.kwargs.clip" in line and "--clip PATH" in line
    assert main(["slim", str(tmp_path / "old.pt"), "--out", str(tmp_path / "b.pt"), "--controller",
                 "--clip", str(DOG_TROT)]) == 0
    spec = load_checkpoint(tmp_path / "b.pt")["env_spec"]
    assert spec["kwargs"]["clip"] == "trot" and spec["clip_origin"]["file"] == "dog3d_trot.txt"
    assert os.fspath(DOG_TROT) not in str(spec)


@needs_clip
def test_the_shipped_dog_trot_trots_on_the_users_copy(monkeypatch, tmp_path):
    """The shipped controller (no clip inside) tracks DeepMimic's trot: a second of deterministic
    control from a start phase stays up and earns most of the reward (it scores 0.877 per step)."""
    monkeypatch.delenv("AWR_MIMIC_CONTROLLERS", raising=False)
    monkeypatch.delenv("AWR_MIMIC_MOTIONS", raising=False)
    monkeypatch.chdir(tmp_path)
    entry = next((c for c in list_controllers() if c["name"] == "dog/trot"), None)
    assert entry is not None, "assets/controllers/dog/trot.pt is not installed"
    ck = open_policy("dog/trot", clip=str(DOG_TROT))
    assert ck.kind == "controller" and ck.env_spec.kwargs["clip"] == str(DOG_TROT)
    env = ck.env_spec.make()
    try:
        obs, _ = env.reset(seed=0, options={"phase": 0.25})
        rewards = []
        for _ in range(30):
            action = ck.space.to_env_action(ck.policy.act(obs, None, deterministic=True))
            obs, reward, terminated, truncated, _ = env.step(action)
            rewards.append(reward)
            assert not terminated
        assert np.mean(rewards) > 0.7
    finally:
        env.close()
