"""What a checkpoint (or a dataset) may carry: its values are validated, never trusted.

A shared checkpoint or run is data: no field of it can reach the network, import code or read a
file. :func:`~awr_mimic.learning.checkpoint.load_checkpoint` checks every file it reads against
these rules and refuses a file that breaks one in one line naming the field:

- ``env_spec.id``: an env of awr-mimic's registry or gymnasium's own (an entry point inside
  ``gymnasium``/``awr_mimic``), never a ``module:Id`` that would import a module. A module the
  program has already imported is the exception: importing it again runs nothing (this is how a
  run of ``--env mymod:MyEnv-v0`` resumes: the user names the module on the command line);
- ``env_spec.kwargs``: options of that env's signature with plain, bounded values; for the
  imitation env the character and the clip are registered NAMES, never file paths (the user
  supplies a clip file with ``--clip PATH``);
- ``config``: known fields in range, sizes bounded (:data:`FILE_LIMITS`); the fields that say where
  or how to run (:data:`RUN_FIELDS`) are never taken from a file: they come from the command line
  or the defaults (:func:`config_from_file` returns what it dropped);
- ``space``: bounded sizes.
"""
from __future__ import annotations

import inspect
import math
import re
import sys
from typing import Any

from awr_mimic.errors import AwrMimicError, ClipError, ConfigError, show

# where and how a run runs: from the command line or the defaults, never from a file
RUN_FIELDS = ("backend", "ray_address", "workers", "device", "learner_threads")
# upper bounds on a file's sizes (a file must not make us allocate or start without limit)
FILE_LIMITS = {
    "samples_per_iter": 10_000_000, "buffer_size": 50_000_000, "actor_batch_size": 1_000_000,
    "critic_batch_size": 1_000_000, "actor_steps": 1_000_000, "critic_steps": 1_000_000,
    "eval_episodes": 100_000, "envs_per_worker": 256,
}
MAX_LAYERS, MAX_WIDTH = 16, 16_384
MAX_OBS_DIM, MAX_ACT_DIM = 1_000_000, 100_000
# gymnasium.make's own keyword arguments (not the env's)
MAKE_OPTIONS = {"max_episode_steps": (1, 100_000_000), "disable_env_checker": None}
RENDER_MODES = (None, "rgb_array", "ansi")
TRUSTED_PACKAGES = ("gymnasium", "awr_mimic")
_PLAIN_STR = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\- ]{0,99}")
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+\- ]{0,199}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _shown(value) -> str:
    s = show(value)  # repr: quotes strings and escapes control characters
    return s if len(s) <= 80 else s[:77] + "..."


def refuse(where: str, field: str, value, why: str, error=AwrMimicError) -> AwrMimicError:
    return error(f"{where}: refusing {field} = {_shown(value)}: {why}")


# -- env ids -------------------------------------------------------------------------------------
def _trusted_module(module: str) -> bool:
    return module.split(".")[0] in TRUSTED_PACKAGES or module in sys.modules


def check_env_id(env_id, where: str):
    """The registry entry of a checkpoint's env id, or a one-line refusal."""
    import gymnasium

    import awr_mimic  # noqa: F401  (registers awr_mimic/Mimic-v0)

    field = "env_spec.id"
    if not isinstance(env_id, str) or not env_id or len(env_id) > 200:
        raise refuse(where, field, env_id, "not an env id")
    name = env_id
    if ":" in env_id:
        module, name = env_id.split(":", 1)
        if module not in sys.modules:
            raise refuse(where, field, env_id, f"loading it would import module {module!r}, and a checkpoint never "
                         f"imports code; if you trust that module, name it yourself (--env {env_id})")
    spec = gymnasium.registry.get(name)
    if spec is None:
        raise refuse(where, field, env_id, "not a registered env (awr-mimic's or gymnasium's own)")
    ep = spec.entry_point
    if isinstance(ep, str):
        module = ep.split(":")[0]
        if not _trusted_module(module):
            raise refuse(where, field, env_id, f"its entry point {ep} is outside gymnasium and awr-mimic, and a "
                         "checkpoint never imports code; if you trust it, import it yourself (--env MODULE:ID)")
    elif not callable(ep):
        raise refuse(where, field, env_id, "registered without an entry point")
    return spec


# -- values --------------------------------------------------------------------------------------
def _number(where, field, v, lo=None, hi=None, integer=False, positive=False):
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok and integer:
        ok = isinstance(v, int) or float(v).is_integer()
    if ok and lo is not None:
        ok = v >= lo
    if ok and hi is not None:
        ok = v <= hi
    if ok and positive:
        ok = v > 0
    if not ok:
        rng = f" in [{lo}, {hi}]" if lo is not None and hi is not None else " > 0" if positive else ""
        raise refuse(where, field, v, f"expected {'an integer' if integer else 'a number'}{rng}", ConfigError)
    return int(v) if integer else v


def plain_value(where: str, field: str, v, depth: int = 0):
    """None, a bool, a finite number, a short word (no path), or a short list of those."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return _number(where, field, v)
    if isinstance(v, str):
        if not _PLAIN_STR.fullmatch(v):
            raise refuse(where, field, v, "a file's option is a short word, never a path", ConfigError)
        return v
    if isinstance(v, (list, tuple)) and depth == 0 and len(v) <= 64:
        return [plain_value(where, f"{field}[{i}]", x, 1) for i, x in enumerate(v)]
    raise refuse(where, field, v, "expected a plain value (a number, a word, or a short list)", ConfigError)


# -- env options ---------------------------------------------------------------------------------
def _mimic_option(where: str, key: str, v, clip_given: bool):
    from awr_mimic.characters import character_files
    from awr_mimic.characters.clips import is_clip_name

    field = f"env_spec.kwargs.{key}"
    if key == "character":
        if not isinstance(v, str) or v not in character_files() or not _PLAIN_STR.fullmatch(v):
            raise refuse(where, field, v, "not a registered character (a checkpoint names its character, never a "
                         "file; register one with $AWR_MIMIC_CHARACTERS)", ConfigError)
        return v
    if key == "clip":
        if clip_given:  # replaced by the user's clip; the stored value is never used
            if v is not None and not isinstance(v, str):
                raise refuse(where, field, v, "not a clip name", ClipError)
            return v
        if v is None or is_clip_name(v):
            return v
        why = ("a checkpoint names its clip and never reads a file; pass your copy with --clip PATH "
               "(awr-mimic slim CHECKPOINT --out FILE --clip PATH stores it by name)")
        raise refuse(where, field, v, why, ClipError)
    if key == "sim_hz":
        return _number(where, field, v, 1, 10_000, integer=True)
    if key == "control_hz":
        return _number(where, field, v, 1, 1_000, integer=True)
    if key == "time_limit":
        return _number(where, field, v, 0, 3_600, positive=True)
    if key == "start_phase":
        return None if v is None else _number(where, field, v, 0.0, 1.0)
    if key == "pose_termination":
        return None if v is None else _number(where, field, v, 0, 1_000, positive=True)
    if key == "pd_target_velocity":
        if v not in ("zero", "reference"):
            raise refuse(where, field, v, "expected 'zero' or 'reference'", ConfigError)
        return v
    if key in ("early_termination", "sync_reference"):
        if not isinstance(v, bool):
            raise refuse(where, field, v, "expected true or false", ConfigError)
        return v
    if key == "target_obs_steps":
        steps = [v] if isinstance(v, int) and not isinstance(v, bool) else v
        if not isinstance(steps, (list, tuple)) or len(steps) > 32:
            raise refuse(where, field, v, "expected at most 32 control steps", ConfigError)
        return [_number(where, field, s, 1, 10_000, integer=True) for s in steps]
    if key == "render_mode":
        if v not in (None, "rgb_array"):
            raise refuse(where, field, v, "expected none or 'rgb_array'", ConfigError)
        return v
    if key == "render_size":
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            raise refuse(where, field, v, "expected [width, height]", ConfigError)
        return [_number(where, field, s, 1, 4096, integer=True) for s in v]
    return plain_value(where, field, v)


def _signature(creator) -> tuple[set[str], bool]:
    """(named options, takes **kwargs) of an env class or factory."""
    try:
        sig = inspect.signature(creator)
    except (TypeError, ValueError):
        return set(), True
    named = {n for n, p in sig.parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self"}
    return named, any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def check_env_kwargs(spec, env_id: str, kwargs, where: str, clip_given: bool = False) -> dict:
    import awr_mimic

    if not isinstance(kwargs, dict) or any(not isinstance(k, str) for k in kwargs):
        raise refuse(where, "env_spec.kwargs", kwargs, "expected a table of options", ConfigError)
    ep = spec.entry_point
    if isinstance(ep, str):
        from gymnasium.envs.registration import load_env_creator

        creator = load_env_creator(ep)  # a trusted module (check_env_id)
    else:
        creator = ep
    named, open_ended = _signature(creator)
    mimic = env_id.split(":")[-1] == awr_mimic.ENV_ID
    out = {}
    for k, v in kwargs.items():
        field = f"env_spec.kwargs.{k}"
        if k in MAKE_OPTIONS and k not in named:
            bounds = MAKE_OPTIONS[k]
            if bounds is None:
                if not isinstance(v, bool):
                    raise refuse(where, field, v, "expected true or false", ConfigError)
                out[k] = v
            else:
                out[k] = _number(where, field, v, *bounds, integer=True)
            continue
        if k not in named and not (open_ended and not mimic):
            raise refuse(where, field, v, f"not an option of {env_id}", ConfigError)
        if mimic:
            out[k] = _mimic_option(where, k, v, clip_given)
        elif k == "render_mode":
            if v not in RENDER_MODES:
                raise refuse(where, field, v, "expected none, 'rgb_array' or 'ansi'", ConfigError)
            out[k] = v
        else:
            out[k] = plain_value(where, field, v)
    return out


def check_clip_origin(origin, where: str) -> dict | None:
    from awr_mimic.characters.clips import is_clip_name

    if origin is None:
        return None
    field = "env_spec.clip_origin"
    if not isinstance(origin, dict) or set(origin) - {"name", "file", "sha256"}:
        raise refuse(where, field, origin, "expected {name, file, sha256}", ClipError)
    if not is_clip_name(origin.get("name")):
        raise refuse(where, f"{field}.name", origin.get("name"), "not a clip name", ClipError)
    f = origin.get("file")
    if f is not None and not (isinstance(f, str) and _FILE_NAME.fullmatch(f)):
        raise refuse(where, f"{field}.file", f, "expected a file name (no folder)", ClipError)
    sha = origin.get("sha256")
    if sha is not None and not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
        raise refuse(where, f"{field}.sha256", sha, "expected 64 hex digits", ClipError)
    return dict(origin)


def env_spec_from_file(d, where: str, clip: str | None = None):
    """A validated EnvSpec from a file's ``env_spec`` dict; `clip` (the user's) replaces its clip."""
    from awr_mimic.learning.envspec import EnvSpec

    if not isinstance(d, dict) or set(d) - {"id", "kwargs", "clip_origin"}:
        raise refuse(where, "env_spec", d, "expected {id, kwargs}", ConfigError)
    env_id = d.get("id")
    spec = check_env_id(env_id, where)
    kwargs = check_env_kwargs(spec, env_id, d.get("kwargs") or {}, where, clip_given=clip is not None)
    origin = check_clip_origin(d.get("clip_origin"), where)
    out = EnvSpec(env_id, kwargs, origin)
    if clip is not None:
        if not out.is_mimic:
            raise ConfigError(f"--clip applies to motion-imitation policies; {where} is for {env_id}")
        out = out.with_clip(clip)  # a stored path is replaced, never read
    return out


# -- config and space ----------------------------------------------------------------------------
def config_from_file(d, where: str):
    """(AWRConfig, dropped): the file's config validated and bounded, with :data:`RUN_FIELDS` at their
    defaults; `dropped` maps each run field the file set to another value than the default to that value."""
    from awr_mimic.learning.config import AWRConfig, apply_overrides

    if not isinstance(d, dict):
        raise refuse(where, "config", d, "expected a table of config fields", ConfigError)
    defaults = AWRConfig()
    values = {k: v for k, v in d.items() if k not in RUN_FIELDS}
    dropped = {k: d[k] for k in RUN_FIELDS if k in d and d[k] != getattr(defaults, k)}
    try:
        cfg = apply_overrides(defaults, values)
    except ConfigError as exc:
        raise ConfigError(f"{where}: refusing {exc}") from None
    for k, hi in FILE_LIMITS.items():
        if getattr(cfg, k) > hi:
            raise refuse(where, f"config {k}", getattr(cfg, k), f"at most {hi:,} in a file", ConfigError)
    for k in ("actor_hidden", "critic_hidden"):
        widths = getattr(cfg, k)
        if len(widths) > MAX_LAYERS or max(widths) > MAX_WIDTH:
            raise refuse(where, f"config {k}", list(widths),
                         f"at most {MAX_LAYERS} layers of {MAX_WIDTH} in a file", ConfigError)
    return cfg, dropped


def space_from_file(d, where: str):
    from awr_mimic.learning.networks import SpaceInfo

    if not isinstance(d, dict):
        raise refuse(where, "space", d, "expected {obs_dim, discrete, act_dim, low, high}", ConfigError)
    obs_dim = _number(where, "space.obs_dim", d.get("obs_dim"), 1, MAX_OBS_DIM, integer=True)
    act_dim = _number(where, "space.act_dim", d.get("act_dim"), 1, MAX_ACT_DIM, integer=True)
    discrete = d.get("discrete")
    if not isinstance(discrete, bool):
        raise refuse(where, "space.discrete", discrete, "expected true or false", ConfigError)
    bounds = []
    for k in ("low", "high"):
        v = d.get(k)
        if v is None:
            bounds.append(None)
            continue
        if not isinstance(v, (list, tuple)) or len(v) != act_dim or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            raise refuse(where, f"space.{k}", v, f"expected {act_dim} numbers", ConfigError)
        bounds.append(tuple(float(x) for x in v))
    return SpaceInfo(obs_dim=obs_dim, discrete=discrete, act_dim=act_dim, low=bounds[0], high=bounds[1])


class Checked:
    """What :func:`check_state` made of a file: ``env_spec`` (EnvSpec), ``config`` (AWRConfig with
    the run fields at their defaults), ``dropped`` (the run fields the file set) and ``space``."""

    __slots__ = ("env_spec", "config", "dropped", "space")

    def __init__(self, env_spec, config, dropped, space):
        self.env_spec, self.config, self.dropped, self.space = env_spec, config, dropped, space


def check_state(state: dict, where: str, clip: str | None = None) -> Checked:
    """Validate a loaded checkpoint dict: env_spec, config, space, kind, dataset (one-line refusals)."""
    kind = state.get("kind")
    if kind is not None and kind not in ("run", "slim", "controller"):
        raise refuse(where, "kind", kind, "expected run, slim or controller", ConfigError)
    spec = env_spec_from_file(state.get("env_spec"), where, clip=clip)
    cfg, dropped = config_from_file(state.get("config"), where)
    space = space_from_file(state.get("space"), where)
    ds = state.get("dataset")
    if ds is not None and not isinstance(ds, str):
        raise refuse(where, "dataset", ds, "expected a file name", ConfigError)
    return Checked(spec, cfg, dropped, space)


def describe_dropped(dropped: dict[str, Any], used: dict[str, Any]) -> str | None:
    """One line naming the run fields a file set that were not taken from it (None: nothing differs)."""
    parts = [f"{k} {_shown(v)} (now {_shown(used.get(k))})" for k, v in dropped.items() if used.get(k) != v]
    if not parts:
        return None
    return ("resume: not taken from the checkpoint (where and how to run come from the command line): "
            + ", ".join(parts))
