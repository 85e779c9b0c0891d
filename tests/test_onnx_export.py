"""`awr-mimic export --format onnx`: the policy as an ONNX model that onnxruntime runs like the torch policy."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from awr_mimic.cli import main

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

DOCS = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"
TOL = 1e-4


def _eval_actions(policy, obs):
    """What awr-mimic eval passes to env.step, one observation at a time (sampling/rollout.py)."""
    return np.stack([np.asarray(policy.space.to_env_action(policy.act(o, None, deterministic=True)))
                     for o in obs])


def _env_observations(spec, policy, steps=300, seed=123):
    """Real observations, from an episode loop written independently of the exporter's."""
    env = spec.make()
    out = []
    try:
        obs, _ = env.reset(seed=seed)
        while len(out) < steps:
            out.append(np.asarray(obs, np.float32))
            obs, _r, term, trunc, _ = env.step(policy.space.to_env_action(policy.act(obs, None, deterministic=True)))
            if term or trunc:
                obs, _ = env.reset()
    finally:
        env.close()
    return np.stack(out)


def _export(run, out, capsys) -> str:
    capsys.readouterr()  # whatever a fixture printed
    assert main(["export", "--checkpoint", str(run), "--out", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    m = re.fullmatch(rf"wrote {re.escape(str(out))} \((\d+) -> (\d+)( actions)?, [\d.]+ (kB|MB)\); "
                     r"max \|onnx - torch\| = (\S+) over (\d+) observations \(\d+ env steps, \d+ random\)", line)
    assert m, line
    assert float(m.group(5)) < TOL and int(m.group(6)) == 320
    return line


@pytest.fixture(scope="module")
def pendulum_run(tmp_path_factory):
    from awr_mimic.learning.trainer import Trainer

    run = tmp_path_factory.mktemp("pendulum") / "run"
    Trainer("awr", env="Pendulum-v1", seed=0, run_dir=run, workers=0).train(total_timesteps=2000)
    return run


@pytest.fixture(scope="module")
def humanoid_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("humanoid") / "run"
    assert main(["train", "--character", "humanoid", "--clip", "walk", "--samples", "1000", "--workers", "0",
                 "--set", "samples_per_iter=500", "--actor-steps", "4", "--critic-steps", "4", "--hidden", "32",
                 "--eval-every", "100", "--eval-episodes", "1", "--no-progress", "--out", str(run)]) == 0
    return run


@pytest.mark.parametrize("which", ["pendulum_run", "humanoid_run"])
def test_onnx_matches_the_eval_action_on_real_observations(which, request, tmp_path, capsys):
    from awr_mimic.learning.checkpoint import load_policy

    run = request.getfixturevalue(which)
    out = tmp_path / "policy.onnx"
    _export(run, out, capsys)
    assert "onnxscript" not in sys.modules  # the graph is built with onnx.helper, not torch's dynamo exporter

    policy, spec, _cfg = load_policy(run)
    obs = _env_observations(spec, policy)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["obs"] and [o.name for o in sess.get_outputs()] == ["action"]
    got = sess.run(None, {"obs": obs})[0]
    want = _eval_actions(policy, obs)
    assert got.dtype == np.float32 and got.shape == (len(obs), policy.space.act_dim)
    diff = np.max(np.abs(got - want))
    print(f"{which}: max |onnx - torch| = {diff:.2g} over {len(obs)} env observations")
    assert diff < TOL
    # the policy's actions really vary, and the bounds are applied
    assert np.ptp(got, axis=0).max() > 1e-3
    assert np.all(got >= np.asarray(policy.space.low, np.float32)) and np.all(got <= np.asarray(policy.space.high, np.float32))

    # a dynamic batch axis: one observation, seven at once, and the rows agree with the full batch
    for n in (1, 7):
        a = sess.run(["action"], {"obs": obs[:n]})[0]
        assert a.shape == (n, policy.space.act_dim)
        np.testing.assert_allclose(a, got[:n], atol=1e-6)

    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["env_id"] == spec.id and int(meta["obs_dim"]) == policy.space.obs_dim


def test_far_observations_are_clipped_like_the_torch_policy(pendulum_run, tmp_path):
    from awr_mimic.learning.checkpoint import load_policy
    from awr_mimic.learning.onnx_export import export_onnx

    policy, _spec, cfg = load_policy(pendulum_run)
    assert cfg.obs_clip > 0
    mean, std = policy.obs_norm.mean.numpy(), policy.obs_norm.std.numpy()
    far = (mean + std * 50 * np.random.default_rng(0).standard_normal((64, len(mean)))).astype(np.float32)
    info = export_onnx(policy, tmp_path / "p.onnx", far)
    assert info["max_abs_diff"] < TOL
    got = ort.InferenceSession(str(tmp_path / "p.onnx")).run(None, {"obs": far})[0]
    assert np.max(np.abs(got - _eval_actions(policy, far))) < TOL


def test_discrete_actions_are_the_argmax(tmp_path, capsys):
    from awr_mimic.learning.checkpoint import load_policy

    run = tmp_path / "cartpole"
    assert main(["train", "--env", "CartPole-v1", "--samples", "400", "--workers", "0", "--samples-per-iter", "200",
                 "--actor-steps", "20", "--critic-steps", "10", "--hidden", "16", "--no-progress",
                 "--out", str(run)]) == 0
    out = tmp_path / "cartpole.onnx"
    assert "(4 -> 2 actions" in _export(run, out, capsys)
    policy, spec, _ = load_policy(run)
    obs = _env_observations(spec, policy, steps=200)
    action, logits = ort.InferenceSession(str(out)).run(None, {"obs": obs})
    assert action.dtype == np.int64 and action.shape == (len(obs),) and logits.shape == (len(obs), 2)
    np.testing.assert_array_equal(action, _eval_actions(policy, obs))


def test_nothing_is_written_when_parity_fails(pendulum_run, tmp_path):
    from awr_mimic.errors import AwrMimicError
    from awr_mimic.learning.checkpoint import load_policy
    from awr_mimic.learning.onnx_export import export_onnx

    policy, _spec, _cfg = load_policy(pendulum_run)
    with pytest.raises(AwrMimicError, match=r"max \|onnx - torch\| = .* exceeds -1; .* not written"):
        export_onnx(policy, tmp_path / "p.onnx", np.zeros((3, 3), np.float32), tolerance=-1.0)
    assert not (tmp_path / "p.onnx").exists()


def _perturb(policy, what):
    import torch

    with torch.no_grad():
        if what == "weight":
            layers = [m for m in policy.net.modules() if isinstance(m, torch.nn.Linear)]
            layers[-1].weight[0, 0] += 0.05
        else:  # the normaliser's statistics
            policy.obs_norm.mean[0] += 0.5 * policy.obs_norm.std[0]


@pytest.mark.parametrize("what", ["weight", "normaliser"])
def test_a_graph_that_differs_from_the_policy_fails_the_parity_check(what, pendulum_run, tmp_path, monkeypatch):
    """The check compares two computations: a model built from other numbers than the policy's is caught at the
    default tolerance (not only with a tolerance of -1)."""
    import copy

    from awr_mimic.errors import AwrMimicError
    from awr_mimic.learning import onnx_export
    from awr_mimic.learning.checkpoint import load_policy

    policy, spec, _cfg = load_policy(pendulum_run)
    obs = np.concatenate([_env_observations(spec, policy, steps=64),
                          onnx_export.random_observations(policy, 32, np.random.default_rng(0))])
    sess = onnx_export.session(onnx_export.policy_to_onnx(policy).SerializeToString())
    assert onnx_export.parity(policy, sess, obs) <= onnx_export.TOLERANCE
    exported = copy.deepcopy(policy)
    _perturb(policy, what)  # the torch policy changes after export
    assert onnx_export.parity(policy, sess, obs) > 100 * onnx_export.TOLERANCE

    real = onnx_export.policy_to_onnx

    def stale(p, metadata=None):  # export_onnx given a graph of other weights than the policy it checks against
        q = copy.deepcopy(p)
        _perturb(q, what)
        return real(q, metadata)

    monkeypatch.setattr(onnx_export, "policy_to_onnx", stale)
    with pytest.raises(AwrMimicError, match=r"max \|onnx - torch\| = .* exceeds 0.0001; .* not written"):
        onnx_export.export_onnx(exported, tmp_path / "p.onnx", obs)
    assert not (tmp_path / "p.onnx").exists()


@pytest.mark.parametrize("missing", ["onnx", "onnxruntime"])
def test_missing_dependency_is_one_line(missing, pendulum_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, missing, None)  # `import <missing>` raises ImportError
    assert main(["export", "--checkpoint", str(pendulum_run), "--out", str(tmp_path / "p.onnx")]) == 2
    err = capsys.readouterr().err
    assert err == 'awr-mimic: error: ONNX export needs onnx and onnxruntime: pip install "awr-mimic[onnx]"\n'
    assert not (tmp_path / "p.onnx").exists()


@pytest.mark.parametrize("extra, message", [
    (["--out", "p.txt"], "use a .html file name (replay) or .onnx (policy)"),
    (["--out", "p.html", "--format", "onnx"], "use a .onnx file name"),
    (["--out", "p.onnx", "--seconds", "3"], "--seconds only shapes an HTML replay"),
    (["--out", "p.onnx", "--random-start", "--dark"], "--random-start, --dark only shape an HTML replay"),
    (["--out", "p.onnx", "--clip", "walk"], "--clip applies to motion-imitation policies"),
    (["--out", "p.onnx", "--parity-steps", "-1"], "--parity-steps must be >= 0"),
])
def test_onnx_user_errors_are_one_line(extra, message, pendulum_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--checkpoint", str(pendulum_run), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_onnx_needs_a_checkpoint(tmp_path, capsys):
    assert main(["export", "--character", "humanoid", "--out", str(tmp_path / "p.onnx")]) == 2
    assert "--format onnx exports a checkpoint's policy: pass --checkpoint" in capsys.readouterr().err


def _docs_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert len(blocks) == 1
    return blocks[0]


# run before the snippet: importing any of `blocked` fails, and torch must never be imported
_BLOCKER = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"blocked in this test: {{name}}")
sys.meta_path.insert(0, _Block())
"""
_NO_TORCH = "\nassert 'torch' not in sys.modules, 'the snippet imported torch'\n"


def _run_snippet(model, tmp_path, blocked, prefix=""):
    shutil.copy(model, tmp_path / "policy.onnx")
    code = _BLOCKER.format(blocked=sorted(blocked)) + prefix + _docs_snippet() + _NO_TORCH
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_docs_snippet_runs_with_onnxruntime_alone(pendulum_run, tmp_path, capsys):
    model = tmp_path / "export" / "policy.onnx"
    _export(pendulum_run, model, capsys)
    out = _run_snippet(model, tmp_path, {"torch", "awr_mimic", "awr_mimic_viewer"})
    assert re.fullmatch(r"Pendulum-v1: return -?\d+\.\d\d\n", out), out


def test_docs_snippet_runs_an_imitation_controller_without_torch(humanoid_run, tmp_path, capsys):
    model = tmp_path / "export" / "policy.onnx"
    _export(humanoid_run, model, capsys)
    out = _run_snippet(model, tmp_path, {"torch"}, prefix="import awr_mimic\n")
    # the env's description includes its training options (awr-mimic train adds action_mode='residual')
    assert re.fullmatch(r"awr_mimic/Mimic-v0\(character='humanoid', clip='walk'[^)]*\): return -?\d+\.\d\d\n", out), out
