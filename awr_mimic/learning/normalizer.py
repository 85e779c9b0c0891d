"""Running mean/std of observations, frozen after a fixed number of samples.

Freezing keeps the network's input mapping fixed once the statistics are good
(the paper: 300k samples for Gym, 1M for motion imitation).
"""
from __future__ import annotations

import numpy as np
import torch


def _float64(x) -> np.ndarray:
    """A stored vector (tensor, list or a format-1 numpy array) as a new float64 array, bit for bit."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.array(x, np.float64, copy=True)


class RunningNormalizer:
    def __init__(self, dim: int, max_samples: int, std_floor: float = 1e-4):
        self.dim = dim
        self.max_samples = int(max_samples)
        self.std_floor = float(std_floor)
        self.count = 0
        self.mean = np.zeros(dim, np.float64)
        self.m2 = np.zeros(dim, np.float64)

    @property
    def frozen(self) -> bool:
        return self.count >= self.max_samples

    def update(self, x: np.ndarray) -> None:
        """Add a batch (n, dim); only the part before the freeze point counts."""
        if self.frozen:
            return
        x = np.asarray(x, np.float64).reshape(-1, self.dim)[: self.max_samples - self.count]
        n = len(x)
        if n == 0:
            return
        # Chan et al. parallel update: stable for large counts
        b_mean = x.mean(0)
        b_m2 = ((x - b_mean) ** 2).sum(0)
        total = self.count + n
        delta = b_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + b_m2 + delta**2 * (self.count * n / total)
        self.count = total

    @property
    def std(self) -> np.ndarray:
        var = self.m2 / max(self.count, 1)
        return np.maximum(np.sqrt(var), self.std_floor) if self.count else np.ones(self.dim)

    def state_dict(self) -> dict:
        """Plain values (float64 tensors, not numpy arrays): checkpoints load with weights_only."""
        return {"count": int(self.count), "mean": torch.from_numpy(self.mean.copy()),
                "m2": torch.from_numpy(self.m2.copy()), "max_samples": self.max_samples, "std_floor": self.std_floor}

    def load_state_dict(self, d: dict) -> None:
        self.count = int(d["count"])
        self.mean = _float64(d["mean"])
        self.m2 = _float64(d["m2"])
        self.max_samples = int(d["max_samples"])
        self.std_floor = float(d["std_floor"])
