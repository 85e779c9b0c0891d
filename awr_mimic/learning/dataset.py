"""Datasets of whole paths (``.npz``), written by ``awr-mimic collect`` and used for offline AWR.

Keys: ``obs`` (N, obs_dim), ``actions`` (N, act_dim) in the policy's normalised units
(int for Discrete), ``rewards`` (N,), per-step ``terminated``/``truncated`` flags
(true on the last step of a path that failed / hit the time limit),
``path_lengths`` (P,), ``final_obs`` (P, obs_dim), ``returns``,
``normalized_returns``, and metadata ``env_spec`` (JSON) and ``space`` (JSON).

A dataset is data like a checkpoint: its env spec and space are validated on load
(awr_mimic.learning.untrusted), and arrays are read without unpickling.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from awr_mimic.errors import AwrMimicError
from awr_mimic.learning.checkpoint import save_npz


def save_dataset(path, batch, env_spec, space) -> None:
    import dataclasses

    arrays = batch.to_dataset()
    arrays["env_spec"] = np.array(json.dumps(env_spec.stored().to_dict()))
    arrays["space"] = np.array(json.dumps(dataclasses.asdict(space)))
    save_npz(path, arrays)


def load_dataset(path):
    """(PathBatch, EnvSpec or None, SpaceInfo or None)."""
    from awr_mimic.learning.envspec import EnvSpec
    from awr_mimic.sampling.base import PathBatch

    p = Path(path)
    if not p.is_file():
        raise AwrMimicError(f"dataset not found: {p}")
    try:
        d = dict(np.load(p, allow_pickle=False))
    except Exception as exc:
        raise AwrMimicError(f"cannot read dataset {p}: {str(exc).splitlines()[0]}") from exc
    missing = [k for k in ("obs", "actions", "rewards", "final_obs") if k not in d]
    if missing:
        raise AwrMimicError(f"dataset {p} lacks {', '.join(missing)}")
    term = d.get("terminated", np.zeros(len(d["rewards"]), bool)).astype(bool)
    trunc = d.get("truncated", np.zeros(len(d["rewards"]), bool)).astype(bool)
    if "path_lengths" in d:
        lengths = d["path_lengths"].astype(np.int64)
    else:
        ends = np.flatnonzero(term | trunc)
        lengths = np.diff(np.concatenate([[-1], ends]))
    n = int(lengths.sum())
    if n != len(d["rewards"]) or len(d["final_obs"]) != len(lengths) or len(d["obs"]) != n:
        raise AwrMimicError(f"dataset {p}: path lengths do not match the arrays")
    ends = np.cumsum(lengths) - 1
    rets = np.add.reduceat(d["rewards"].astype(np.float64), ends - lengths + 1) if n else np.zeros(0)
    batch = PathBatch(
        obs=d["obs"].astype(np.float32), actions=d["actions"], rewards=d["rewards"].astype(np.float32),
        lengths=lengths, terminated=term[ends], truncated=trunc[ends] & ~term[ends],
        final_obs=d["final_obs"].astype(np.float32), returns=d.get("returns", rets),
        normalized_returns=d.get("normalized_returns", np.full(len(lengths), np.nan)))
    from awr_mimic.learning.untrusted import space_from_file

    where = f"dataset {p}"
    try:
        spec_d = json.loads(str(d["env_spec"])) if "env_spec" in d else None
        space_d = json.loads(str(d["space"])) if "space" in d else None
    except ValueError as exc:
        raise AwrMimicError(f"{where}: its env_spec/space metadata is not JSON ({exc})") from None
    spec = EnvSpec.from_file(spec_d, where) if spec_d is not None else None
    space = space_from_file(space_d, where) if space_d is not None else None
    return batch, spec, space
