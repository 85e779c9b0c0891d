"""Atomic files, self-describing checkpoints that load without running code, and named controllers.

A checkpoint (``torch.save`` of a dict) holds the config, the EnvSpec, the
space description, all learner state (nets, optimisers, normaliser, minibatch
RNG), counters, RNG states and the replay buffer's path table and value cache.
The buffer's rows live next to it in ``buffer/chunk-<iteration>.npz``: each
iteration's new paths are written once (a few MB) and never rewritten, so a
checkpoint every iteration stays cheap even with a 500k-row buffer. Every file
is written to a temporary name, fsync'ed and renamed over the old one, so a
kill at any moment leaves the previous complete checkpoint.

Format 2 holds plain types only (tensors, None/bool/int/float/str, lists,
dicts): :func:`save_checkpoint` converts numpy values and tuples on the way
out, and :func:`load_checkpoint` reads with ``torch.load(weights_only=True)``,
so loading a file never runs code from it (torch >= 2.6: older versions had a weights-only bypass,
CVE-2025-32434, and are refused). A file that would need unpickling
(format 1, or not from awr-mimic) is refused with a one-line hint at
``awr-mimic convert-checkpoint``, the one-off conversion a user runs knowingly.

Three kinds share the format: ``run`` (everything, ``checkpoint.pt``), ``slim``
(no buffer table: ``best.pt``, :func:`write_slim`; resume refills the buffer)
and ``controller`` (policy weights, normaliser, env spec, config, space and a
metadata dict; what ships in ``assets/controllers/<character>/<clip>.pt`` and
loads by name, e.g. ``humanoid/walk``).

Values are validated, not trusted (:mod:`awr_mimic.learning.untrusted`): a file cannot choose an
env that imports code, make us read a file, or say where and how to run.
"""
from __future__ import annotations

import dataclasses
import difflib
import io
import os
import pickle
import random
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from awr_mimic.errors import AwrMimicError
from awr_mimic.physics_revision import physics_changes

FORMAT = 2
KINDS = ("run", "slim", "controller")
CONTROLLER_SUFFIX = ".pt"


# -- files ---------------------------------------------------------------------
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


def save_npz(path, arrays: dict) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


# -- plain values ----------------------------------------------------------------
_TORCH_DTYPES = {np.dtype(t) for t in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                                       np.uint8, np.bool_, np.complex64, np.complex128)}


def _array(a: np.ndarray, where: str):
    if a.dtype in _TORCH_DTYPES:
        return torch.from_numpy(np.ascontiguousarray(a).copy())
    if a.dtype in (np.uint16, np.uint32):
        return torch.from_numpy(a.astype(np.int64))
    if a.dtype.kind in "uU":  # uint64, strings
        return a.tolist()
    raise TypeError(f"cannot store a numpy array of {a.dtype} at {where} in a checkpoint")


def to_plain(obj: Any, where: str = "checkpoint") -> Any:
    """`obj` with only types ``torch.load(weights_only=True)`` reads back: tensors, None, bool, int,
    float, str, lists and dicts. numpy arrays become tensors, numpy scalars python scalars, tuples
    lists, dataclasses dicts. Anything else (a class of ours, a function) is a TypeError: it would
    make the file need unpickling."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, np.ndarray):
        return _array(obj, where)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):  # IntEnum and friends
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            key = k.item() if isinstance(k, np.generic) else k
            if type(key) not in (str, int):
                raise TypeError(f"cannot store a {type(k).__name__} key at {where} in a checkpoint")
            out[key] = to_plain(v, f"{where}.{key}")
        return out
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_plain(dataclasses.asdict(obj), where)
    raise TypeError(f"cannot store a {type(obj).__name__} at {where} in a checkpoint (plain types only)")


def as_numpy(x, dtype=None) -> np.ndarray:
    """A stored array (a tensor in format 2, a list, or a format-1 numpy array) as a new numpy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.array(x, dtype=dtype, copy=True)


def rng_states() -> dict:
    """Python, numpy (global) and torch RNG states as plain values."""
    version, internal, gauss = random.getstate()
    npst = np.random.get_state(legacy=False)
    return {"python": [version, list(internal), gauss],
            "numpy": {**npst, "state": {"key": torch.from_numpy(npst["state"]["key"].astype(np.int64)),
                                        "pos": int(npst["state"]["pos"])}},
            "torch": torch.get_rng_state()}


def set_rng_states(rng: dict) -> None:
    version, internal, gauss = rng["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    npst = rng["numpy"]
    if isinstance(npst, Mapping):
        st = dict(npst)
        st["state"] = {"key": as_numpy(npst["state"]["key"], np.uint32), "pos": int(npst["state"]["pos"])}
        np.random.set_state(st)
    else:  # format 1: the legacy tuple
        np.random.set_state(tuple(npst))
    torch.set_rng_state(torch.as_tensor(rng["torch"], dtype=torch.uint8))


# -- save / load -------------------------------------------------------------------
def save_checkpoint(path, state: dict) -> None:
    plain = to_plain({"format": FORMAT, **state})
    atomic_write(path, lambda f: torch.save(plain, f))


def _convert_hint(p: Path) -> str:
    return (f"if you trust it, convert it once with: awr-mimic convert-checkpoint {p} "
            f"--out {p.with_name(p.stem + '-v2' + (p.suffix or '.pt'))}")


SAFE_TORCH = (2, 6)  # torch.load(weights_only=True) could run code before 2.6 (CVE-2025-32434)


def check_torch_version(version: str | None = None) -> None:
    """One line refusing a torch whose weights-only loader has a known bypass."""
    v = str(torch.__version__ if version is None else version)
    m = re.match(r"(\d+)\.(\d+)", v)
    if m is None or (int(m.group(1)), int(m.group(2))) < SAFE_TORCH:
        raise AwrMimicError(f"torch {v} cannot load checkpoints safely (its weights-only loader could run code, "
                            f"CVE-2025-32434): pip install 'torch>={SAFE_TORCH[0]}.{SAFE_TORCH[1]}'")


def _safe_load(p: Path):
    """torch.load that never unpickles code: tensors and plain values only."""
    check_torch_version()
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "Unsupported operand" not in msg:  # a global (a function, a class) the weights-only unpickler refused
            m = re.search(r"GLOBAL ([\w.]+)", msg)
            wants = f"it asks for {m.group(1)}; " if m else ""
            raise AwrMimicError(f"{p}: refusing to load: it needs unpickling code ({wants}a format-1 checkpoint from "
                                f"an earlier awr-mimic, or a file not from awr-mimic); {_convert_hint(p)}") from exc
        raise AwrMimicError(f"cannot read checkpoint {p}: damaged, or not a torch file") from exc
    except Exception as exc:  # damaged or not a torch file
        first = (str(exc).splitlines() or [""])[0]
        raise AwrMimicError(f"cannot read checkpoint {p}: damaged, or not a torch file "
                            f"({type(exc).__name__}: {first})") from exc


def load_checkpoint(path, best: bool = False, clip: str | None = None) -> dict:
    """A format-2 checkpoint as a dict, read with ``weights_only=True`` and validated.

    `path`: a checkpoint file, a run directory (its ``checkpoint.pt``, or ``best.pt`` with `best`),
    or the name of a shipped controller (``humanoid/walk``; an explicit path reaches a file of that
    name: ``./humanoid/walk``). `clip`: the user's clip (name or file), replacing the stored one.
    Adds ``path`` (the file read) and ``name`` (the controller name, or None); the validated values
    are attributes of the returned dict (a :class:`LoadedCheckpoint`): ``env_spec`` (EnvSpec),
    ``config`` (AWRConfig, where/how to run at the defaults), ``dropped`` and ``space``.
    """
    from awr_mimic.learning.untrusted import check_state

    p, name = resolve_checkpoint(path, best=best)
    state = _safe_load(p)
    if not isinstance(state, dict) or "format" not in state:
        raise AwrMimicError(f"{p} is not an awr-mimic checkpoint")
    if state["format"] == 1:
        raise AwrMimicError(f"{p}: refusing to load a format-1 checkpoint (it may hold pickled code); "
                            f"{_convert_hint(p)}")
    if state["format"] != FORMAT:
        raise AwrMimicError(f"{p} is checkpoint format {state['format']!r}; this awr-mimic reads format {FORMAT}")
    state.setdefault("kind", "run" if state.get("buffer") is not None else "slim")
    checked = check_state(state, str(p), clip=clip)
    out = LoadedCheckpoint(state)
    out.env_spec, out.config, out.dropped, out.space = (checked.env_spec, checked.config, checked.dropped,
                                                        checked.space)
    out["path"] = str(p)
    out["name"] = name
    return out


class LoadedCheckpoint(dict):
    """A checkpoint's dict as stored (plus path and name), with its validated values as attributes;
    saving it again writes the dict alone."""

    env_spec: Any
    config: Any
    dropped: dict
    space: Any


def read_metadata(path) -> dict:
    """A controller file's metadata dict alone (weights-only read; nothing else of the file is used)."""
    state = _safe_load(Path(path))
    meta = state.get("metadata") if isinstance(state, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}


def file_state(state: dict) -> dict:
    """`state` without what loading added (path, name, format, the validated _ values)."""
    return {k: v for k, v in state.items() if k not in ("path", "name", "format")}


# -- named controllers ---------------------------------------------------------------
def controllers_dirs() -> list[Path]:
    from awr_mimic.paths import controllers_dirs as dirs

    return dirs()


def list_controllers() -> list[dict]:
    """Shipped controllers, sorted by name: [{name, character, clip, path}] (the first folder wins)."""
    found: dict[str, dict] = {}
    for d in controllers_dirs():
        if not d.is_dir():
            continue
        for f in sorted(d.glob(f"*/*{CONTROLLER_SUFFIX}")):
            name = f"{f.parent.name}/{f.stem}"
            found.setdefault(name, {"name": name, "character": f.parent.name, "clip": f.stem, "path": f})
    return [found[k] for k in sorted(found)]


def looks_like_name(arg: str) -> bool:
    """`character/clip`: one slash, no suffix, not absolute or relative-dotted (``./x/y`` is a path)."""
    s = str(arg)
    if s.count("/") != 1 or "\\" in s or s.startswith(("/", ".", "~")):
        return False
    char, clip = s.split("/")
    return bool(char) and bool(clip) and not Path(s).suffix


def resolve_checkpoint(path, best: bool = False) -> tuple[Path, str | None]:
    """(file to read, controller name or None).

    A controller name (``humanoid/walk``) is the shipped controller even when a folder or file of
    that name is in the current directory: a cloned folder must not take a name over. An explicit
    path reaches such a file: ``./humanoid/walk``, an absolute path, or a name ending in ``.pt``.
    """
    import sys

    s = str(path)
    p = Path(path).expanduser()
    if looks_like_name(s):
        shipped = list_controllers()
        for c in shipped:
            if c["name"] == s:
                if p.exists():
                    print(f"note: {s} is the shipped controller; for the {'folder' if p.is_dir() else 'file'} "
                          f"{s} here, write ./{s}", file=sys.stderr, flush=True)
                return c["path"], c["name"]
        if not p.exists():
            names = [c["name"] for c in shipped]
            if not names:
                raise AwrMimicError(f"unknown controller {s!r} (and no such file or directory); no controllers "
                                    f"are shipped here (awr-mimic controllers)")
            close = difflib.get_close_matches(s, names, n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            listing = ", ".join(names) if len(names) <= 20 else ", ".join(names[:20]) + ", ..."
            raise AwrMimicError(f"unknown controller {s!r} (and no such file or directory); "
                                f"shipped: {listing}{hint}")
    if p.is_dir():
        return p / ("best.pt" if best else "checkpoint.pt"), None
    if p.exists():
        return p, None
    raise AwrMimicError(f"checkpoint not found: {p}")


# -- policies --------------------------------------------------------------------------
@dataclasses.dataclass
class PolicyCheckpoint:
    """A policy and what it was trained on, from any checkpoint kind."""

    policy: Any
    env_spec: Any
    config: Any
    space: Any
    label: str  # "controller humanoid/walk" / "checkpoint runs/x/best.pt"
    path: str
    name: str | None
    kind: str
    metadata: dict


def space_from_state(d: dict):
    from awr_mimic.learning.networks import SpaceInfo

    low, high = d.get("low"), d.get("high")
    return SpaceInfo(obs_dim=int(d["obs_dim"]), discrete=bool(d["discrete"]), act_dim=int(d["act_dim"]),
                     low=tuple(float(v) for v in low) if low is not None else None,
                     high=tuple(float(v) for v in high) if high is not None else None)


def open_policy(path, best: bool = False, clip: str | None = None) -> PolicyCheckpoint:
    """The policy of any checkpoint kind, validated. `clip`: the user's clip (name or file) for its env."""
    from awr_mimic.learning.awr import policy_kwargs
    from awr_mimic.learning.networks import Policy

    state = load_checkpoint(path, best=best, clip=clip)
    cfg, space = state.config, state.space
    policy = Policy(space, **policy_kwargs(cfg))
    try:
        policy.load_state_dict(state["learner"]["actor"])
    except (KeyError, RuntimeError, TypeError, AttributeError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise AwrMimicError(f"{state['path']}: the policy weights do not fit its own config: {first}") from exc
    policy.eval()
    kind = state["kind"]
    shown = state["name"] or state["path"]
    if state.env_spec.is_mimic:
        changed = physics_changes(state.get("physics_revision"))
        if changed:
            print(f"note: {shown} was trained with older physics ({changed}); it may track and balance worse "
                  f"now: resume its run to adapt it (docs/environment.md, Physics)", file=sys.stderr, flush=True)
    return PolicyCheckpoint(policy, state.env_spec, cfg, space,
                            f"{'controller' if kind == 'controller' else 'checkpoint'} {shown}", state["path"],
                            state["name"], kind, dict(state.get("metadata") or {}))


def load_policy(path):
    """(policy, env_spec, config) from a checkpoint alone (any kind; names resolve to shipped controllers)."""
    ck = open_policy(path)
    return ck.policy, ck.env_spec, ck.config


def _describe(spec) -> str:
    kw = dict(spec.kwargs)
    if spec.is_mimic:
        char = kw.pop("character", "humanoid")
        rest = ", ".join(f"{k}={v!r}" for k, v in kw.items())
        return f"{char}, {rest}" if rest else str(char)
    return str(spec)


def check_character(ck: PolicyCheckpoint, character: str | None) -> None:
    """One line when the user asks for another character than the policy was trained on."""
    if character is None:
        return
    if not ck.env_spec.is_mimic:
        raise AwrMimicError(f"{ck.label} is for {ck.env_spec.id}; --character applies to motion-imitation policies")
    trained = ck.env_spec.kwargs.get("character", "humanoid")
    if character != trained:
        raise AwrMimicError(f"{ck.label} was trained on the {trained} and cannot drive the {character} "
                            f"(character mismatch); use a {character} controller (awr-mimic controllers)")


def check_compatible(ck: PolicyCheckpoint, env_space, env_spec=None) -> None:
    """One line naming the mismatch when the env (built from `env_spec`) does not fit the policy's space."""
    want, spec = ck.space, env_spec or ck.env_spec
    if env_space.obs_dim != want.obs_dim:
        raise AwrMimicError(f"{ck.label} expects observations of size {want.obs_dim} ({_describe(ck.env_spec)}), "
                            f"the env gives {env_space.obs_dim} ({_describe(spec)})")
    if env_space.discrete != want.discrete or env_space.act_dim != want.act_dim:
        def kind(s):
            return f"{s.act_dim} discrete actions" if s.discrete else f"actions of size {s.act_dim}"
        raise AwrMimicError(f"{ck.label} produces {kind(want)} ({_describe(ck.env_spec)}), "
                            f"the env takes {kind(env_space)} ({_describe(spec)})")


# -- slim checkpoints and controllers ---------------------------------------------------
METADATA_KEYS = ("normalized_return", "mean_return", "mean_length", "joint_angle_error", "end_effector_error",
                 "failure_rate")


def _stored_spec(state: dict) -> dict:
    """The env spec to write: the validated one (clip by name, EnvSpec.stored) of a loaded checkpoint."""
    spec = getattr(state, "env_spec", None)
    return spec.stored().to_dict() if spec is not None else state["env_spec"]


def slim_state(state: dict) -> dict:
    """A checkpoint without the buffer table: resume refills the buffer from new samples."""
    out = file_state(state)
    out["env_spec"] = _stored_spec(state)
    out["buffer"] = None
    out["kind"] = "slim"
    return out


def controller_state(state: dict, metadata: dict | None = None) -> dict:
    """Policy only: actor weights, normaliser, env spec, config, space, counters and a metadata dict."""
    c = state.get("counters") or {}
    meta: dict[str, Any] = {}
    ev = state.get("last_eval") or {}
    for k in METADATA_KEYS:
        if k in ev:
            meta[k] = ev[k]
    if "episodes" in ev:
        meta["eval_episodes"] = ev["episodes"]
    meta.update(samples=int(c.get("samples", 0)), iterations=int(c.get("iteration", 0)),
                wall_time_s=float(c.get("elapsed", 0.0)), source=str(state.get("path", "")),
                created=time.strftime("%Y-%m-%d"))
    meta.update(metadata or {})
    learner = state["learner"]
    spec = _stored_spec(state)
    return {"kind": "controller", "algo": state.get("algo", "awr"), "physics_revision": state.get("physics_revision"),
            "config": state["config"],
            "env_spec": spec, "space": state["space"],
            "learner": {"actor": learner["actor"], "normalizer": learner.get("normalizer")},
            "counters": {k: c[k] for k in ("iteration", "samples", "episodes", "elapsed") if k in c},
            "metadata": meta}


def write_slim(run, out_path, controller: bool = False, best: bool = False, metadata: dict | None = None,
               clip: str | None = None, clip_name: str | None = None) -> Path:
    """Write a slim checkpoint (or, with `controller`, a policy-only controller) of a run.

    `run`: a run directory (its checkpoint.pt, or best.pt with `best`) or a checkpoint file.
    The clip is stored by name (EnvSpec.stored): `clip`, the user's copy of the run's clip file
    (its file name and sha256 are recorded); `clip_name`, the name to store it under.
    """
    state = load_checkpoint(run, best=best, clip=clip)
    if clip_name is not None:
        state.env_spec = state.env_spec.renamed_clip(clip_name)
    if state["kind"] == "controller" and not controller:
        raise AwrMimicError(f"{state['path']} is a controller (policy only); a slim checkpoint needs a run "
                            "checkpoint (it keeps the critic and optimisers)")
    out = Path(out_path)
    if out.is_dir():
        out = out / ("controller.pt" if controller else "slim.pt")
    if out.exists() and out.resolve() == Path(state["path"]).resolve():
        raise AwrMimicError(f"--out {out} is the checkpoint being read; write to another file")
    out.parent.mkdir(parents=True, exist_ok=True)
    new = controller_state(state, metadata) if controller else slim_state(state)
    save_checkpoint(out, new)
    return out


def convert_checkpoint(old, new, trust: bool = False) -> dict:
    """Rewrite a format-1 checkpoint (pickled numpy values) as format 2. Unpickles `old`: only with `trust`."""
    old, new = Path(old), Path(new)
    if not trust:
        raise AwrMimicError(f"converting {old} unpickles it, and a pickle can run any code on this machine; "
                            "only convert a file you made or trust, and say so with --trust")
    if not old.is_file():
        raise AwrMimicError(f"checkpoint not found: {old}")
    if new.resolve() == old.resolve():
        raise AwrMimicError("--out must be a new file (keep the original until the converted one works)")
    try:
        state = torch.load(old, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise AwrMimicError(f"cannot read checkpoint {old}: {first}") from exc
    if not isinstance(state, dict) or state.get("format") not in (1, FORMAT) or "learner" not in state:
        raise AwrMimicError(f"{old} is not an awr-mimic checkpoint")
    state = dict(state)
    state.pop("path", None)
    state.pop("name", None)
    rng = state.get("rng")
    if isinstance(rng, dict) and isinstance(rng.get("numpy"), (tuple, list)):  # legacy MT19937 tuple
        _, key, pos, has_gauss, gauss = rng["numpy"]
        rng = {**rng, "numpy": {"bit_generator": "MT19937", "state": {"key": as_numpy(key, np.int64), "pos": int(pos)},
                                "has_gauss": int(has_gauss), "gauss": float(gauss)}}
        state["rng"] = rng
    state.setdefault("kind", "run" if state.get("buffer") is not None else "slim")
    try:
        plain = to_plain({**state, "format": FORMAT})
    except TypeError as exc:
        raise AwrMimicError(f"{old}: {exc}") from exc
    new.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(new, plain)
    return load_checkpoint(new)  # proves it reads back with weights_only
