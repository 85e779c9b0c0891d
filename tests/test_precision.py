"""The learner's precision is chosen on the machine it runs on, never a 30x slowdown."""
import pytest
import torch

from awr_mimic.learning import precision
from awr_mimic.learning.config import AWRConfig, apply_overrides, preset


def _net(width=1024):
    return torch.nn.Sequential(torch.nn.Linear(8, width), torch.nn.ReLU(), torch.nn.Linear(width, 2))


def _no_timing(*args, **kwargs):
    raise AssertionError("must not time anything")


def test_avx2_cpu_takes_fp32_without_timing(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(precision, "_steps_per_s", _no_timing)
    choice = precision.choose("auto", torch.device("cpu"), _net(), 8, 1024)
    assert choice["precision"] == "fp32" and "AVX2" in choice["reason"]


@pytest.mark.parametrize("fp32, bf16, expect", [(100.0, 3.0, "fp32"), (100.0, 110.0, "fp32"), (100.0, 200.0, "bf16")])
def test_avx512_cpu_times_both_and_takes_bf16_only_when_clearly_faster(monkeypatch, fp32, bf16, expect):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    rates = {"fp32": fp32, "bf16": bf16}
    monkeypatch.setattr(precision, "_steps_per_s", lambda net, obs_dim, p, device: rates[p])
    choice = precision.choose("auto", torch.device("cpu"), _net(), 8, 1024)
    assert choice["precision"] == expect
    assert choice["fp32_steps_per_s"] == fp32 and choice["bf16_steps_per_s"] == bf16


def test_small_nets_and_explicit_choices_do_not_time(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(precision, "_steps_per_s", _no_timing)
    assert precision.choose("auto", torch.device("cpu"), _net(64), 8, 64)["precision"] == "fp32"
    assert precision.choose("bf16", torch.device("cpu"), _net(), 8, 1024)["precision"] == "bf16"
    assert precision.choose("fp32", torch.device("cpu"), _net(), 8, 1024)["precision"] == "fp32"


def test_real_timing_runs_here():
    rate = precision._steps_per_s(_net(256), 8, "fp32", torch.device("cpu"), batch=32, steps=2)
    assert rate > 0


def test_presets_default_to_auto_and_old_configs_still_load():
    assert preset("mimic").precision == "auto" and preset("gym").precision == "auto"
    # config.yaml of runs before the change: autocast_bf16 true meant the preset's bf16
    assert apply_overrides(AWRConfig(), {"autocast_bf16": True}).precision == "auto"
    assert apply_overrides(AWRConfig(), {"autocast_bf16": "false"}).precision == "fp32"


@pytest.mark.parametrize("requested, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_the_learner_trains_in_the_chosen_precision(requested, dtype):
    """The choice reaches the update: the actor's and critic's layers compute in that dtype during an
    iteration of the Trainer (and the weights stay float32, as the optimisers keep them)."""
    from awr_mimic import Trainer

    cfg = {"precision": requested, "hidden": (16,), "samples_per_iter": 64, "actor_steps": 3, "critic_steps": 3,
           "eval_every": 0, "buffer_size": 500}
    with Trainer("awr", env="Pendulum-v1", seed=0, config=cfg, workers=0) as t:
        assert t.algo.precision == requested
        seen = {"actor": set(), "critic": set()}
        hooks = []
        for name, net in (("actor", t.algo.actor.net), ("critic", t.algo.critic.net)):
            for m in net.modules():
                if isinstance(m, torch.nn.Linear):
                    hooks.append(m.register_forward_hook(
                        lambda mod, inp, out, name=name: seen[name].add(out.dtype) if torch.is_grad_enabled()
                        else None))
        t.train(iterations=1)
        for h in hooks:
            h.remove()
        assert seen == {"actor": {dtype}, "critic": {dtype}}, seen  # gradient steps of both nets
        assert all(p.dtype == torch.float32 for p in t.algo.actor.parameters())
