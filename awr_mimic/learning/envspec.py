"""A picklable description of an environment: a gymnasium id plus kwargs.

Sampler workers rebuild the env from it (``import awr_mimic, gymnasium;
gymnasium.make(id, **kwargs)``) and checkpoints store it, so a checkpoint
alone rebuilds the env.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from awr_mimic.errors import ConfigError, show


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    id: str
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)

    def make(self, **overrides):
        import gymnasium

        import awr_mimic  # noqa: F401  (registers awr_mimic/Mimic-v0)

        kwargs = {**self.kwargs, **overrides}
        try:
            return gymnasium.make(self.id, **kwargs)
        except gymnasium.error.Error as exc:
            # unknown ids, bad versions: one line, not a traceback
            raise ConfigError(f"cannot make env {self.id!r}: {str(exc).splitlines()[0]}") from exc

    @property
    def is_mimic(self) -> bool:
        import awr_mimic

        return self.id == awr_mimic.ENV_ID

    def to_dict(self) -> dict:
        return {"id": self.id, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_dict(cls, d: dict) -> "EnvSpec":
        return cls(id=d["id"], kwargs=dict(d.get("kwargs") or {}))

    @classmethod
    def coerce(cls, env: "str | EnvSpec", env_kwargs: dict | None = None) -> "EnvSpec":
        if isinstance(env, EnvSpec):
            return env if not env_kwargs else cls(env.id, {**env.kwargs, **env_kwargs})
        if isinstance(env, str):
            return cls(env, dict(env_kwargs or {}))
        raise ConfigError(f"env must be a gymnasium id or an EnvSpec, got {type(env).__name__}")

    def __str__(self) -> str:
        opts = ", ".join(f"{k}={show(v)}" for k, v in self.kwargs.items())
        return f"{self.id}({opts})" if opts else self.id
