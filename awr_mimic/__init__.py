"""awr-mimic: DeepMimic-style motion imitation in pybullet, learned with AWR.

Public API::

    import awr_mimic
    env = awr_mimic.make_env(character="humanoid", clip="spinkick")
    # or: gymnasium.make("awr_mimic/Mimic-v0", character="humanoid", clip="spinkick")

    from awr_mimic import Trainer
    Trainer("awr", env="CartPole-v1", seed=42).train(total_timesteps=50_000)
"""
from __future__ import annotations

try:  # one source of truth: the installed distribution's version (pyproject.toml)
    from importlib.metadata import PackageNotFoundError, version as _version

    __version__ = _version("awr-mimic")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

ENV_ID = "awr_mimic/Mimic-v0"


def _register() -> None:
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="awr_mimic.envs.mimic_env:MimicEnv")


_register()


def make_env(character: str = "humanoid", clip: str = "walk", **options):
    """Create a :class:`awr_mimic.envs.MimicEnv` (unwrapped) for `character` imitating `clip`."""
    from awr_mimic.envs.mimic_env import MimicEnv

    return MimicEnv(character=character, clip=clip, **options)


def __getattr__(name: str):
    # Lazy so that `import awr_mimic` (done by every sampler worker) stays light.
    if name == "Trainer":
        from awr_mimic.learning.trainer import Trainer

        return Trainer
    raise AttributeError(f"module 'awr_mimic' has no attribute {name!r}")


__all__ = ["ENV_ID", "Trainer", "make_env", "__version__"]
