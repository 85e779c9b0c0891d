"""AWR: networks, path buffer, normaliser, TD(lambda), the algorithm, config, checkpoints, Trainer.

Works on any gymnasium env with a flat Box observation space; it never imports
``awr_mimic.envs``.
"""
from awr_mimic.learning.config import AWRConfig, PRESETS, preset
from awr_mimic.learning.envspec import EnvSpec

__all__ = ["AWRConfig", "EnvSpec", "PRESETS", "Trainer", "preset"]


def __getattr__(name):
    if name == "Trainer":  # lazy: pulls in torch
        from awr_mimic.learning.trainer import Trainer

        return Trainer
    raise AttributeError(name)
