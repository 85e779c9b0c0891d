"""A shared checkpoint is data: no field of it can reach the network, import code or read a file.

Each test crafts a weights-only checkpoint (plain values, exactly what torch.load(weights_only=True)
reads) and checks that the loaders refuse it in one line, or drop what it may not choose, and that
no connection, import or process happens.
"""
from __future__ import annotations

import os
import shutil
import sys

import pytest
import torch

from awr_mimic import Trainer
from awr_mimic.cli import main
from awr_mimic.errors import AwrMimicError
from awr_mimic.learning.checkpoint import load_checkpoint, open_policy

FAST = {"samples_per_iter": 64, "actor_steps": 2, "critic_steps": 2, "hidden": (8,), "eval_every": 0,
        "eval_episodes": 1, "buffer_size": 300}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny CartPole run (in-process sampling): checkpoint.pt with its buffer chunk."""
    d = tmp_path_factory.mktemp("sec") / "run"
    with Trainer("awr", env="CartPole-v1", seed=1, config=FAST, workers=0, run_dir=d) as t:
        t.train(iterations=1)
    return d


def _crafted(run, tmp_path, edit, name="run") -> "os.PathLike":
    """A copy of `run` whose checkpoint.pt went through `edit(raw_dict)` (still weights-only)."""
    d = tmp_path / name
    shutil.copytree(run, d)
    raw = torch.load(d / "checkpoint.pt", map_location="cpu", weights_only=True)
    edit(raw)
    torch.save(raw, d / "checkpoint.pt")
    return d


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


# -- finding 1: where and how to run never come from a file -------------------------------------------------
def test_a_checkpoint_cannot_choose_a_ray_cluster_or_thousands_of_workers(run, tmp_path, monkeypatch, capsys):
    def ray_fields(raw):
        raw["config"].update(backend="ray", ray_address="ray://attacker.example:10001", workers=5000,
                             device="cuda", learner_threads=4096)

    d = _crafted(run, tmp_path, ray_fields)

    def no(what):
        def fail(*a, **k):
            raise AssertionError(f"{what} called by a resume of a crafted checkpoint")
        return fail

    import awr_mimic.sampling.ray_backend as ray_backend
    import awr_mimic.sampling.local as local

    monkeypatch.setattr(ray_backend.RaySampler, "__init__", no("RaySampler"))
    monkeypatch.setattr(ray_backend, "_check_reachable", no("the Ray reachability check"))
    try:
        import ray
        monkeypatch.setattr(ray, "init", no("ray.init"))
    except ImportError:
        pass
    import socket

    monkeypatch.setattr(socket, "create_connection", no("socket.create_connection"))
    requested = []
    real_init = local.LocalSampler.__init__

    def counting_init(self, env_spec, policy_kwargs, seed=0, workers=None, start_method=None, envs_per_worker=1):
        requested.append(workers)
        real_init(self, env_spec, policy_kwargs, seed=seed, workers=0, envs_per_worker=envs_per_worker)

    monkeypatch.setattr(local.LocalSampler, "__init__", counting_init)
    import multiprocessing.context as mpc

    for cls in (mpc.SpawnProcess, mpc.ForkServerProcess, mpc.ForkProcess):
        monkeypatch.setattr(cls, "start", no("a worker process start"))

    capsys.readouterr()
    with Trainer.resume(d) as t:
        assert t.cfg.backend == "local" and t.cfg.ray_address is None and t.cfg.device == "cpu"
        assert t.cfg.learner_threads is None and t.cfg.resolved_workers() <= (os.cpu_count() or 1)
        assert requested and all(w is not None and w <= (os.cpu_count() or 1) for w in requested)
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("resume: not taken from the checkpoint")
    for field in ("backend 'ray'", "ray_address 'ray://attacker.example:10001'", "workers 5000", "device 'cuda'",
                  "learner_threads 4096"):
        assert field in line

    # on the command line, what the user types is what runs
    requested.clear()
    assert main(["train", "--resume", str(d), "--samples", "128", "--no-progress", "--workers", "0"]) == 0
    assert requested and set(requested) == {0}
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("resume: not taken")]
    assert len(said) == 1 and "workers 5000 (now 0)" in said[0]


def test_the_cli_resume_takes_run_fields_from_the_command_line_only(run, tmp_path, capsys):
    d = _crafted(run, tmp_path, lambda raw: raw["config"].update(backend="ray", ray_address="ray://x:1"))
    assert main(["train", "--resume", str(d), "--samples", "128", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "(ray)" not in captured.out
    said = [line for line in captured.err.splitlines() if line.startswith("resume: not taken")]
    assert len(said) == 1 and "backend 'ray' (now 'local')" in said[0] and "ray_address 'ray://x:1'" in said[0]


# -- finding 2: an env id never imports code ------------------------------------------------------------------
@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """A module on sys.path whose import leaves a marker file."""
    name = "awr_evil_env_mod"
    marker = tmp_path / "imported"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').write('pwned')\n"
        "import gymnasium\n"
        "gymnasium.register('EvilEnv-v0', entry_point='gymnasium.envs.classic_control.cartpole:CartPoleEnv')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    sys.modules.pop(name, None)
    yield name, marker
    assert name not in sys.modules and not marker.exists(), "the crafted checkpoint imported the module"


def test_a_module_env_id_is_refused_everywhere_and_never_imported(run, tmp_path, evil_module, capsys):
    name, _marker = evil_module
    d = _crafted(run, tmp_path, lambda raw: raw["env_spec"].update(id=f"{name}:EvilEnv-v0"))
    with pytest.raises(AwrMimicError) as err:
        load_checkpoint(d)
    msg = str(err.value)
    assert f"refusing env_spec.id = '{name}:EvilEnv-v0'" in msg and "never imports code" in msg and "\n" not in msg

    for argv in (["eval", "--checkpoint", str(d), "--workers", "0", "--episodes", "1"],
                 ["train", "--resume", str(d), "--samples", "64", "--no-progress"],
                 ["slim", str(d), "--out", str(tmp_path / "c.pt"), "--controller", "--eval", "1"],
                 ["export", "--checkpoint", str(d), "--out", str(tmp_path / "p.onnx")]):
        assert main(argv) == 2, argv
        line = _one_line(capsys.readouterr().err)
        assert "refusing env_spec.id" in line or 'pip install "awr-mimic[onnx]"' in line, argv
    assert not (tmp_path / "c.pt").exists() and not (tmp_path / "p.onnx").exists()


def test_an_env_registered_outside_gymnasium_is_refused(run, tmp_path, evil_module):
    import gymnasium

    name, _marker = evil_module
    gymnasium.register("AwrEvilRegistered-v0", entry_point=f"{name}:Anything")
    try:
        d = _crafted(run, tmp_path, lambda raw: raw["env_spec"].update(id="AwrEvilRegistered-v0"))
        with pytest.raises(AwrMimicError, match=f"its entry point {name}:Anything is outside gymnasium"):
            open_policy(d)
    finally:
        del gymnasium.registry["AwrEvilRegistered-v0"]


def test_a_module_the_user_names_on_the_command_line_is_imported(tmp_path, evil_module):
    """Typing --env mymod:MyEnv-v0 is legitimate: the user chose that module."""
    from awr_mimic.cli.train import import_env_module

    name, marker = evil_module
    import_env_module(f"{name}:EvilEnv-v0")
    try:
        assert marker.exists()
    finally:
        sys.modules.pop(name, None)
        marker.unlink()


# -- env options: names, never files ---------------------------------------------------------------------------
MIMIC = {"id": "awr_mimic/Mimic-v0", "kwargs": {"character": "humanoid", "clip": "walk"}}


@pytest.mark.parametrize("kwargs, field", [
    ({"character": "humanoid", "clip": "/etc/passwd"}, "env_spec.kwargs.clip"),
    ({"character": "humanoid", "clip": "../../secret.txt"}, "env_spec.kwargs.clip"),
    ({"character": "/tmp/evil.toml", "clip": "walk"}, "env_spec.kwargs.character"),
    ({"character": "humanoid", "clip": "walk", "urdf": "x"}, "env_spec.kwargs.urdf"),
    ({"character": "humanoid", "clip": "walk", "sim_hz": 10 ** 9}, "env_spec.kwargs.sim_hz"),
])
def test_mimic_options_are_names_and_bounded(tmp_path, monkeypatch, kwargs, field):
    from awr_mimic.learning import untrusted

    opened = []
    real_open = open

    def watch(path, *a, **k):
        opened.append(str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", watch)
    with pytest.raises(AwrMimicError) as err:
        untrusted.env_spec_from_file({"id": "awr_mimic/Mimic-v0", "kwargs": kwargs}, "x.pt")
    assert f"x.pt: refusing {field} = " in str(err.value) and "\n" not in str(err.value)
    assert not any(p in ("/etc/passwd", "/tmp/evil.toml") or "secret" in p for p in opened)


def test_a_gym_option_must_be_in_the_env_signature():
    from awr_mimic.learning import untrusted

    spec = untrusted.env_spec_from_file({"id": "Pendulum-v1", "kwargs": {"g": 9.81, "max_episode_steps": 50}}, "f")
    assert spec.kwargs == {"g": 9.81, "max_episode_steps": 50}
    with pytest.raises(AwrMimicError, match="refusing env_spec.kwargs.xml_file .* not an option of Pendulum-v1"):
        untrusted.env_spec_from_file({"id": "Pendulum-v1", "kwargs": {"xml_file": "/etc/x.xml"}}, "f")
    with pytest.raises(AwrMimicError, match="refusing env_spec.kwargs.render_mode = 'human'"):
        untrusted.env_spec_from_file({"id": "Pendulum-v1", "kwargs": {"render_mode": "human"}}, "f")


@pytest.mark.parametrize("edit, field", [
    (lambda raw: raw["config"].update(actor_hidden=[10 ** 7]), "config actor_hidden"),
    (lambda raw: raw["config"].update(envs_per_worker=100_000), "config envs_per_worker"),
    (lambda raw: raw["config"].update(gamma=7), "config gamma"),
    (lambda raw: raw["config"].update(not_a_field=1), "config key 'not_a_field'"),
    (lambda raw: raw["space"].update(obs_dim=10 ** 9), "space.obs_dim"),
])
def test_config_and_space_are_checked_in_one_line(run, tmp_path, edit, field, capsys):
    d = _crafted(run, tmp_path, edit)
    with pytest.raises(AwrMimicError) as err:
        load_checkpoint(d)
    assert field in str(err.value) and "refusing" in str(err.value) and "\n" not in str(err.value)
    assert main(["eval", "--checkpoint", str(d), "--workers", "0"]) == 2
    assert field in _one_line(capsys.readouterr().err)


def test_a_stored_dataset_path_is_read_only_if_it_is_the_runs_dataset(run, tmp_path):
    secret = tmp_path / "other.npz"
    secret.write_bytes(b"not the run's dataset")

    def edit(raw):
        raw.update(dataset=str(secret), dataset_sha256="0" * 64, offline=True)

    d = _crafted(run, tmp_path, edit)
    with pytest.raises(AwrMimicError, match="the run learned from dataset 'other.npz' .* pass it with --dataset"):
        Trainer.resume(d)


# -- finding 3: torch with a weights-only bypass ----------------------------------------------------------------
def test_an_old_torch_is_refused_before_reading(run, monkeypatch, capsys):
    def never(*a, **k):
        raise AssertionError("torch.load called under torch 2.5")

    monkeypatch.setattr(torch, "__version__", "2.5.1+cpu")
    monkeypatch.setattr(torch, "load", never)
    with pytest.raises(AwrMimicError, match=r"torch 2\.5\.1\+cpu cannot load checkpoints safely .* "
                                            r"pip install 'torch>=2\.6'"):
        load_checkpoint(run)
    assert main(["eval", "--checkpoint", str(run)]) == 2
    assert "CVE-2025-32434" in _one_line(capsys.readouterr().err)
    monkeypatch.setattr(torch, "__version__", "2.13.0")  # two-digit minors compare as numbers
    from awr_mimic.learning.checkpoint import check_torch_version

    check_torch_version()


def test_pyproject_requires_a_torch_without_the_bypass():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    m = re.search(r'"torch>=(\d+)\.(\d+)"', text)
    assert m and (int(m.group(1)), int(m.group(2))) >= (2, 6)
