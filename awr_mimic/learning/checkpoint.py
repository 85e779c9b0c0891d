"""Atomic files and self-describing checkpoints.

A checkpoint (``torch.save`` of a dict) holds the config, the EnvSpec, the
space description, all learner state (nets, optimisers, normaliser, minibatch
RNG), counters, RNG states and the replay buffer's path table and value cache.
The buffer's rows live next to it in ``buffer/chunk-<iteration>.npz``: each
iteration's new paths are written once (a few MB) and never rewritten, so a
checkpoint every iteration stays cheap even with a 500k-row buffer. Every file
is written to a temporary name, fsync'ed and renamed over the old one, so a
kill at any moment leaves the previous complete checkpoint.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from awr_mimic.errors import AwrMimicError

FORMAT = 1


def atomic_write(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def save_checkpoint(path, state: dict) -> None:
    atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))


def load_checkpoint(path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.pt"
    if not p.is_file():
        raise AwrMimicError(f"checkpoint not found: {p}")
    try:
        state = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # damaged or not a checkpoint
        raise AwrMimicError(f"cannot read checkpoint {p}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise AwrMimicError(f"{p} is not an awr-mimic checkpoint (format {FORMAT})")
    state["path"] = str(p)
    return state


def save_npz(path, arrays: dict) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_policy(path):
    """(policy, env_spec, config) from a checkpoint alone."""
    from awr_mimic.learning.awr import policy_kwargs
    from awr_mimic.learning.config import AWRConfig, apply_overrides
    from awr_mimic.learning.envspec import EnvSpec
    from awr_mimic.learning.networks import Policy, SpaceInfo

    state = load_checkpoint(path)
    cfg = apply_overrides(AWRConfig(), state["config"])
    space = SpaceInfo(**state["space"])
    policy = Policy(space, **policy_kwargs(cfg))
    policy.load_state_dict(state["learner"]["actor"])
    policy.eval()
    return policy, EnvSpec.from_dict(state["env_spec"]), cfg
