"""Where training episodes start on the clip: reference state initialisation (RSI).

DeepMimic draws every start phase uniformly. `adaptive_rsi` (a share in [0, 1)) draws that share
of the starts instead in proportion to how often recent episodes from each twentieth of the clip
fell before they had played one clip length: a policy that cannot recover from one stretch of the
clip (the spinkick's push-off, docs/learning.md) gets more starts there, where uniform RSI gives it
a few short episodes and <1 % of its samples. The rest stay uniform, so no stretch is forgotten.
This is the failure-weighted start sampling of BeyondMimic (Liao et al. 2025, section III-F), with
failures counted at the start bin and no smoothing kernel. Evaluation never uses it.

Each worker keeps its own counts (deterministic for a seed and worker count); they are not saved
in checkpoints: a resumed run starts uniform and relearns them within a few iterations.
"""
from __future__ import annotations

import math

import numpy as np

from awr_mimic.errors import ConfigError, show

START_BINS = 20
RATE_STEP = 0.1  # exponential average of a bin's failures: about its last 10 episodes


def check_adaptive_rsi(share) -> float:
    if not (isinstance(share, (int, float)) and math.isfinite(share) and 0.0 <= share < 1.0):
        raise ConfigError(f"adaptive_rsi must be a share in [0, 1), got {show(share)}")
    return float(share)


class StartPhases:
    """Start phases for training episodes, and the per-bin failure rates that weight them."""

    def __init__(self, bins: int = START_BINS):
        self.fail_rate = np.zeros(int(bins))

    def probabilities(self, share: float) -> np.ndarray:
        """Per-bin start probabilities: (1 - share) uniform, and `share` in proportion to the bins'
        failure rates, scaled down while the rates sum to less than one bin that always fails (so
        that one rare fall does not pull the whole share to its bin)."""
        n = len(self.fail_rate)
        p = (1.0 - share) / n + share * self.fail_rate / max(1.0, self.fail_rate.sum())
        return p / p.sum()

    def draw(self, rng: np.random.Generator, share: float) -> float:
        if share <= 0.0:
            return float(rng.uniform())  # DeepMimic's RSI, with the random stream it always had
        n = len(self.fail_rate)
        b = int(rng.choice(n, p=self.probabilities(share)))
        return (b + float(rng.uniform())) / n

    def record(self, phase: float, steps: int, fell: bool, clip_steps: int) -> None:
        """An episode that started at `phase` and ran `steps` control steps. It counts as a failure
        if it fell within one clip length, a success once it has played one; a shorter episode cut
        by the time cap says nothing."""
        if steps >= clip_steps:
            failed = False
        elif fell:
            failed = True
        else:
            return
        b = min(int(phase * len(self.fail_rate)), len(self.fail_rate) - 1)
        self.fail_rate[b] += RATE_STEP * (float(failed) - self.fail_rate[b])
