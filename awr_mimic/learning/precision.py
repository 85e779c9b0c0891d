"""Which float precision the learner's update steps use, decided at run time on this machine.

bf16 autocast doubles the update steps on CPUs with native bf16 (avx512_bf16, AMX), but is emulated
elsewhere: on an AVX2-only CPU it ran 35x slower than fp32 (docs/learning.md). So ``precision="auto"``
never trusts the machine the defaults were tuned on:

- CUDA, small nets, or a CPU whose torch kernels top out below AVX-512: fp32, no timing needed;
- an AVX-512 CPU: time a few minibatch steps of these very nets in both precisions and take bf16
  only when it is clearly faster (it is emulated on AVX-512 CPUs without the bf16 extension).
"""
from __future__ import annotations

import contextlib
import copy
import time

import torch

CHOICES = ("auto", "fp32", "bf16")
MIN_WIDTH_TO_PROBE = 512  # narrower nets are latency-bound: bf16 cannot win
BF16_MIN_SPEEDUP = 1.25


def autocast(device: torch.device, precision: str):
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _steps_per_s(net: torch.nn.Module, obs_dim: int, precision: str, device: torch.device,
                 batch: int = 256, steps: int = 4) -> float:
    net = copy.deepcopy(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    x = torch.randn(batch, obs_dim, device=device)

    def step():
        with autocast(device, precision):
            out = net(x)
        loss = out.float().pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up: kernels, allocator
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t0)


def choose(requested: str, device: torch.device, net: torch.nn.Module, obs_dim: int, width: int) -> dict:
    """{"precision": "fp32"|"bf16", "reason": ..., and the measured steps/s when it timed both}."""
    if requested in ("fp32", "bf16"):
        return {"precision": requested, "reason": "set in the config"}
    if device.type != "cpu":
        return {"precision": "fp32", "reason": f"{device.type} device"}
    if width < MIN_WIDTH_TO_PROBE:
        return {"precision": "fp32", "reason": f"small nets (width {width})"}
    capability = torch.backends.cpu.get_cpu_capability()
    if not capability.upper().startswith("AVX512"):
        return {"precision": "fp32", "reason": f"CPU capability {capability}: bf16 would be emulated"}
    fp32 = _steps_per_s(net, obs_dim, "fp32", device)
    bf16 = _steps_per_s(net, obs_dim, "bf16", device)
    pick = "bf16" if bf16 >= BF16_MIN_SPEEDUP * fp32 else "fp32"
    return {"precision": pick, "reason": f"timed on this CPU ({capability}): fp32 {fp32:.0f} steps/s, "
            f"bf16 {bf16:.0f} steps/s", "fp32_steps_per_s": fp32, "bf16_steps_per_s": bf16}
