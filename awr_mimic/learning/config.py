"""AWR configuration: one dataclass, two presets, file/override loading.

Every field can be set from a TOML/YAML file, from ``--set key=value`` on the
command line or from ``Trainer(config={...})``. Unknown keys and bad values
raise a one-line :class:`ConfigError`.
"""
from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Optional

from awr_mimic.errors import ConfigError, show, unknown_name


@dataclasses.dataclass
class AWRConfig:
    preset: str = "gym"

    # networks (ReLU MLPs)
    actor_hidden: tuple = (128, 64)
    critic_hidden: tuple = (128, 64)
    actor_init_output_scale: float = 0.01

    # optimisers: the paper uses SGD with momentum for both
    optimizer: str = "adam"  # sgd | adam (the paper: SGD with momentum)
    actor_lr: float = 3e-4
    critic_lr: float = 1e-3
    momentum: float = 0.9
    actor_batch_size: int = 256
    critic_batch_size: int = 256
    # minibatch steps per `samples_per_iter` new samples (scaled by the actual count, as xbpeng/awr)
    actor_steps: int = 1000
    critic_steps: int = 200

    # AWR
    samples_per_iter: int = 1024
    buffer_size: int = 50_000  # rows; a path of T steps takes T+1 rows (final observation)
    gamma: float = 0.99
    td_lambda: float = 0.95
    beta: float = 1.0  # temperature on normalised advantages
    max_weight: float = 20.0  # omega_max
    action_std: float = 0.4  # fixed, in normalised action units
    # exploration anneal (DeepMimic anneals its exploration rate 1 -> 0.2 over 64M samples): the std
    # stays at action_std for action_std_anneal_start samples, then goes linearly to action_std_end
    # over action_std_anneal_samples more (0: a step)
    action_std_end: float | None = None  # None: action_std throughout
    action_std_anneal_start: int = 0
    action_std_anneal_samples: int = 0
    action_bound_weight: float = 10.0
    learning_starts: int = 0  # samples collected before the first update
    # DeepMimic's horizon curriculum: training episodes are capped at
    # start + (time_limit - start) * min(1, samples / N) ** power seconds (evaluation ones never are);
    # N = horizon_curriculum_samples, 0 = off (DeepMimic: 32_000_000). Imitation envs only.
    horizon_curriculum_samples: int = 0
    horizon_start_s: float = 0.5
    horizon_power: float = 4.0

    # state normaliser
    normalizer_samples: int = 300_000  # frozen after this many samples
    normalizer_std_floor: float = 1e-4
    obs_clip: float = 10.0  # normalised observations clipped to +-obs_clip (MimicKit); 0: no clip

    # ablations (paper section 5.2)
    on_policy: bool = False  # buffer holds only the last batch
    use_baseline: bool = True  # False: RWR weights from returns instead of advantages
    returns: str = "td_lambda"  # td_lambda | monte_carlo

    # speed knobs (deviations from the paper, see docs/learning.md)
    value_refresh_fraction: float = 1.0  # share of the buffer whose V is recomputed per pass
    # learner float precision: auto = bf16 autocast only where this CPU runs it fast (learning/precision.py)
    precision: str = "auto"  # auto | fp32 | bf16
    learner_threads: Optional[int] = None  # None: 1 for small nets, else the cores the workers leave free

    # sampling
    workers: Optional[int] = None  # None: os.cpu_count(); 0: in-process
    envs_per_worker: int = 1  # imitation envs stepped together per worker (one batched policy/env pass)
    # imitation: share of training episodes started where recent ones fell (sampling/starts.py);
    # 0 = DeepMimic's uniform reference state initialisation
    adaptive_rsi: float = 0.0
    overlap: bool = False  # collect the next batch while learning (one-iteration-stale policy)
    backend: str = "local"  # local (worker processes) | ray (Ray actors, docs/distributed.md)
    ray_address: Optional[str] = None  # ray backend: None starts Ray here; "auto" or HOST:PORT joins a cluster

    # bookkeeping
    eval_every: int = 5  # iterations; 0 disables periodic eval
    eval_episodes: int = 5
    checkpoint_every: int = 1  # iterations
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | auto

    # -- helpers -------------------------------------------------------------
    def replace(self, **changes) -> "AWRConfig":
        return apply_overrides(self, changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    def resolved_workers(self) -> int:
        return (os.cpu_count() or 1) if self.workers is None else self.workers


# Peng's motion-imitation values (xbpeng/awr#2, section 4 of REFERENCE.md), with the
# update-step counts and the value refresh cut so learning keeps up with 2-core sampling.
PRESETS: dict[str, dict[str, Any]] = {
    # xbpeng/awr's Gym values, tuned for 50k-100k-sample budgets (docs/learning.md): 1024 samples per
    # iteration with the same steps per iteration, and Adam for Box actions (the dataclass defaults).
    "gym": {},
    "mimic": dict(
        # Adam instead of the paper's SGD + momentum (1.5e-6 / 0.01): on the humanoid the paper's
        # SGD stayed flat and SGD at 1e-4 diverged; Adam 2e-4 / 1e-3 learned (docs/learning.md)
        optimizer="adam",
        preset="mimic",
        actor_hidden=(1024, 512),
        critic_hidden=(1024, 512),
        actor_lr=2e-4,
        critic_lr=1e-3,
        samples_per_iter=4096,
        # the paper: 500k; 50k learned faster in every run of an hour or more on 2 cores (docs/learning.md)
        buffer_size=50_000,
        gamma=0.95,
        td_lambda=0.95,
        max_weight=50.0,
        # the paper: 0.05 in DeepMimic's normalised units, ~0.06-0.19 rad by joint; ours span
        # [-pi, pi], so 0.05 is 0.157 rad on every joint. 0.05 for 3M samples, then 0.025: from
        # scratch this walked 16 of 16 at 0.913 in 175 min; fixed 0.025 learned faster but still
        # fell at 3 h (docs/learning.md, "Humanoid walk training")
        action_std=0.05,
        action_std_end=0.025,
        action_std_anneal_start=3_000_000,
        action_std_anneal_samples=0,
        normalizer_samples=1_000_000,
        normalizer_std_floor=0.02,
        # the paper: 200 actor + 100 critic steps and two full value passes per 4096 samples;
        # a quarter of the steps and a 2% rotating refresh keep learning under 0.43x the sampling
        # time on 2 cores (docs/learning.md, `awr-mimic bench learn`)
        actor_steps=50,
        critic_steps=25,
        value_refresh_fraction=0.02,
        eval_every=10,
        eval_episodes=8,  # best.pt is chosen on these; 8 spread over the clip (rollout.eval_start_phase)
        envs_per_worker=8,
    ),
}

# Per-action-type defaults applied on top of a preset before any user value.
VARIANTS: dict[tuple[str, str], dict[str, Any]] = {
    # categorical policies: the paper's SGD + momentum works and Adam was erratic on CartPole
    ("gym", "discrete"): dict(optimizer="sgd", actor_lr=1e-4, critic_lr=0.01),
}

# Names used by the rlox-style `Trainer(config=...)` API -> dataclass fields.
ALIASES: dict[str, tuple[str, ...]] = {
    "learning_rate": ("actor_lr",),
    "batch_size": ("actor_batch_size", "critic_batch_size"),
    "n_critic_updates": ("critic_steps",),
    "n_actor_updates": ("actor_steps",),
    "max_advantage": ("max_weight",),
    "temperature": ("beta",),
    "lambda": ("td_lambda",),
    "hidden": ("actor_hidden", "critic_hidden"),
    "net_arch": ("actor_hidden", "critic_hidden"),
}

_CHOICES = {
    "optimizer": ("sgd", "adam"),
    "returns": ("td_lambda", "monte_carlo"),
    "device": ("cpu", "cuda", "auto"),
    "preset": tuple(PRESETS),
    "backend": ("local", "ray"),
    "precision": ("auto", "fp32", "bf16"),
}

# Fields a resumed run may change (`train --resume DIR --set KEY=VALUE`): step sizes, update counts,
# exploration, the discount and bookkeeping. gamma may change because value targets are stored scaled
# by (1 - gamma), so the critic's scale carries over and it refits to the new horizon. Net shapes, the
# buffer, the env and the sampler layout stay as the run was made, since its weights and stored samples
# depend on them; a checkpoint without a buffer (a slim one) may also change buffer_size.
RESUME_CHANGEABLE = (
    "gamma", "actor_lr", "critic_lr", "momentum", "actor_batch_size", "critic_batch_size", "actor_steps", "critic_steps",
    "samples_per_iter", "td_lambda", "beta", "max_weight", "action_std", "action_std_end",
    "action_std_anneal_start", "action_std_anneal_samples", "action_bound_weight", "adaptive_rsi", "horizon_curriculum_samples", "horizon_start_s", "horizon_power", "value_refresh_fraction", "precision",
    "learner_threads", "eval_every", "eval_episodes", "checkpoint_every",
)

# Keys of older configs (config.yaml, checkpoints) and what they mean now.
LEGACY = {
    # the mimic preset once forced bf16 autocast; true now means "bf16 where it is fast here"
    "autocast_bf16": lambda v: ("precision", "auto" if _coerce_bool("autocast_bf16", v) else "fp32"),
}

_LITERAL_AUTO = {"ray_address"}  # "auto" is a value here (join the running cluster), not "default"

FIELDS = {f.name: f for f in dataclasses.fields(AWRConfig)}
_HINTS = typing.get_type_hints(AWRConfig)


def preset(name: str, discrete: bool = False) -> AWRConfig:
    """A preset; `discrete` applies its variant for Discrete action spaces."""
    if name not in PRESETS:
        raise ConfigError(str(unknown_name("preset", name, PRESETS)))
    cfg = apply_overrides(AWRConfig(), PRESETS[name])
    return apply_overrides(cfg, VARIANTS.get((name, "discrete" if discrete else "box"), {}))


def _coerce(key: str, value: Any) -> Any:
    hint = _HINTS[key]
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = True, args[0]
    bad = ConfigError(f"config {key}: bad value {show(value)} (expected {getattr(hint, '__name__', hint)})")
    if isinstance(value, str):
        s = value.strip()
        if optional and (s.lower() in ("none", "null", "") or (s.lower() == "auto" and key not in _LITERAL_AUTO)):
            return None
    elif value is None:
        if optional:
            return None
        raise bad
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.strip().lower() in ("true", "yes", "on", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise bad
    if hint is int:
        try:
            f = float(value)  # accepts "1e6" and 1_000_000
        except (TypeError, ValueError):
            raise bad from None
        if isinstance(value, bool) or not math.isfinite(f) or f != int(f):
            raise bad
        return int(f)
    if hint is float:
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise bad from None
        if isinstance(value, bool) or not math.isfinite(f):
            raise bad
        return f
    if hint is str:
        if not isinstance(value, str):
            raise bad
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ConfigError(str(unknown_name(f"{key}", value, _CHOICES[key])))
        return value
    if hint is tuple:
        if isinstance(value, str):
            value = [v for v in value.strip("[]() ").replace(",", " ").split()]
        if isinstance(value, int):
            value = [value]
        try:
            out = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise bad from None
        if not out or any(v <= 0 for v in out):
            raise bad
        return out
    raise bad  # pragma: no cover


def _coerce_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise ConfigError(f"config {key}: bad value {show(value)} (expected bool)")


def _validate(cfg: AWRConfig) -> None:
    positive = ("actor_lr", "critic_lr", "actor_batch_size", "critic_batch_size", "samples_per_iter",
                "buffer_size", "beta", "max_weight", "action_std", "eval_episodes", "checkpoint_every",
                "horizon_start_s", "horizon_power")
    for k in positive:
        if not getattr(cfg, k) > 0:
            raise ConfigError(f"config {k}: must be > 0, got {show(getattr(cfg, k))}")
    for k in ("gamma", "td_lambda"):
        if not 0.0 <= getattr(cfg, k) <= 1.0:
            raise ConfigError(f"config {k}: must be in [0, 1], got {show(getattr(cfg, k))}")
    if cfg.gamma >= 1.0:
        raise ConfigError("config gamma: must be < 1 (value targets are scaled by 1 - gamma)")
    if not 0.0 < cfg.value_refresh_fraction <= 1.0:
        raise ConfigError(f"config value_refresh_fraction: must be in (0, 1], got {show(cfg.value_refresh_fraction)}")
    if cfg.action_std_end is not None and not cfg.action_std_end > 0:
        raise ConfigError(f"config action_std_end: must be > 0 (or none), got {show(cfg.action_std_end)}")
    for k in ("actor_steps", "critic_steps", "learning_starts", "normalizer_samples", "eval_every", "obs_clip",
              "horizon_curriculum_samples", "action_std_anneal_start", "action_std_anneal_samples"):
        if getattr(cfg, k) < 0:
            raise ConfigError(f"config {k}: must be >= 0, got {show(getattr(cfg, k))}")
    if cfg.workers is not None and cfg.workers < 0:
        raise ConfigError(f"config workers: must be >= 0, got {show(cfg.workers)}")
    if cfg.backend == "ray" and cfg.workers == 0:
        raise ConfigError("config workers: the ray backend needs workers >= 1 (0 samples in-process)")
    if cfg.envs_per_worker < 1:
        raise ConfigError(f"config envs_per_worker: must be >= 1, got {show(cfg.envs_per_worker)}")
    if cfg.learner_threads is not None and cfg.learner_threads < 1:
        raise ConfigError(f"config learner_threads: must be >= 1, got {show(cfg.learner_threads)}")
    if not 0.0 <= cfg.adaptive_rsi < 1.0:
        raise ConfigError(f"config adaptive_rsi: must be in [0, 1), got {show(cfg.adaptive_rsi)}")
    if cfg.momentum < 0 or cfg.momentum >= 1:
        raise ConfigError(f"config momentum: must be in [0, 1), got {show(cfg.momentum)}")


def apply_overrides(cfg: AWRConfig, changes: dict[str, Any]) -> AWRConfig:
    """A copy of `cfg` with `changes` (field names or API aliases) applied and validated."""
    values = {}
    items = [(str(k).replace("-", "_"), v) for k, v in changes.items()]
    items = [LEGACY[k](v) if k in LEGACY else (k, v) for k, v in items]
    items.sort(key=lambda kv: kv[0] not in ALIASES)  # aliases first, so explicit fields win
    for key, value in items:
        targets = ALIASES.get(key, (key,))
        for t in targets:
            if t not in FIELDS:
                raise ConfigError(str(unknown_name("config key", key, list(FIELDS) + list(ALIASES))))
            values[t] = _coerce(t, value)
    new = dataclasses.replace(cfg, **values)
    _validate(new)
    return new


def parse_set(items: list[str]) -> dict[str, str]:
    """``["gamma=0.9", "hidden=256,256"]`` -> dict; values are coerced later."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def load_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML or YAML config file into a flat dict (an ``[awr]`` table may wrap it)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # python < 3.11
                import tomli as tomllib
            data = tomllib.loads(text)
        elif p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"config file {p}: expected .toml, .yaml or .yml")
    except ConfigError:
        raise
    except Exception as exc:  # parser errors: keep the first line
        raise ConfigError(f"config file {p}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a table of key = value")
    if set(data) == {"awr"} and isinstance(data["awr"], dict):
        data = data["awr"]
    return data


def save(cfg: AWRConfig, path: str | os.PathLike) -> None:
    import yaml

    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def resolve(preset_name: str | None, *sources: dict[str, Any] | None, default_preset: str = "gym",
            discrete: bool = False) -> AWRConfig:
    """Preset (and its action-type variant), then each source dict in order (file, then command line / API)."""
    merged: dict[str, Any] = {}
    for s in sources:
        merged.update(s or {})
    name = preset_name or merged.pop("preset", None) or default_preset
    merged.pop("preset", None)
    cfg = preset(name, discrete)
    return apply_overrides(cfg, merged)


def resume_changes(cfg: AWRConfig, changes: dict[str, Any], has_buffer: bool = True) -> tuple[AWRConfig, list[str]]:
    """`cfg` with the changes a resumed run allows (RESUME_CHANGEABLE, plus buffer_size when the
    checkpoint has no buffer to keep), and one 'key old -> new' per change."""
    new = apply_overrides(cfg, changes)  # validates names and values first
    allowed = RESUME_CHANGEABLE if has_buffer else RESUME_CHANGEABLE + ("buffer_size",)
    said = []
    for f in FIELDS:
        old, now = getattr(cfg, f), getattr(new, f)
        if old == now:
            continue
        if f not in allowed:
            hint = "; buffer_size too when resuming a slim checkpoint (no buffer)" if f == "buffer_size" else ""
            raise ConfigError(f"config {f}: a resumed run keeps the value it was made with ({show(old)}); "
                              f"changeable on resume: {', '.join(allowed)}{hint}")
        said.append(f"{f} {show(old)} -> {show(now)}")
    return new, said
