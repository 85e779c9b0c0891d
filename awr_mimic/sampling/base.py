"""The sampler interface and the batch of paths it returns.

A sampler owns environments, receives the policy weights each iteration and
returns whole paths as numpy arrays, so backends (local processes now, Ray
later) are interchangeable.
"""
from __future__ import annotations

import abc
import dataclasses

import numpy as np

PHASE_BINS = 10  # evaluation's reward profile over the clip: bins of a tenth of the clip
_PHASE_PREFIX = "by_phase/"


def phase_bin_key(bin_index: int, name: str) -> str:
    """The info_sums key of `name` (reward, a reward term, falls) in clip-phase bin `bin_index`."""
    return f"{_PHASE_PREFIX}{bin_index}/{name}"


def phase_bins(phases: np.ndarray) -> np.ndarray:
    """The bin of each clip phase in [0, 1]."""
    return np.minimum((np.asarray(phases) * PHASE_BINS).astype(np.int64), PHASE_BINS - 1)


@dataclasses.dataclass
class PathBatch:
    """Whole paths, concatenated back to back.

    Per step (N = sum of lengths): ``obs`` s_t, ``actions`` (normalised units, int for
    Discrete), ``rewards``. Per path (P): ``lengths``, ``terminated`` (failure, V(s_T) = 0),
    ``truncated`` (time limit, bootstrap), ``final_obs`` s_T, ``returns`` (undiscounted)
    and ``normalized_returns`` (return / env horizon_steps, NaN when the env has none).
    ``info_sums``/``info_counts``: per-step sums of scalar info entries
    (reward terms, tracking errors) for averaging; imitation evaluations also keep them per
    clip-phase bin (``phase_bin_key``), which ``phase_profile`` reads.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    returns: np.ndarray
    normalized_returns: np.ndarray
    info_sums: dict = dataclasses.field(default_factory=dict)
    info_counts: dict = dataclasses.field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return int(self.lengths.sum())

    @property
    def num_paths(self) -> int:
        return len(self.lengths)

    @staticmethod
    def concat(batches: list["PathBatch"]) -> "PathBatch":
        cat = lambda k: np.concatenate([getattr(b, k) for b in batches])  # noqa: E731
        sums, counts = {}, {}
        for b in batches:
            for k, v in b.info_sums.items():
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + b.info_counts[k]
        return PathBatch(*(cat(f.name) for f in dataclasses.fields(PathBatch)[:9]), sums, counts)

    def info_means(self) -> dict[str, float]:
        """Per-step means of the info entries (the per-phase bins are `phase_profile`'s)."""
        return {k: self.info_sums[k] / self.info_counts[k] for k in self.info_sums
                if self.info_counts[k] and not k.startswith(_PHASE_PREFIX)}

    def phase_profile(self) -> list[dict]:
        """Where in the clip reward is lost and episodes fall: one row per phase bin with the
        steps spent in it, the mean reward and reward terms per step there, and the falls whose
        last step was there. Empty unless the paths are an imitation evaluation's."""
        rows = []
        for b in range(PHASE_BINS):
            key = phase_bin_key(b, "reward")
            if key not in self.info_counts:
                continue
            row = {"phase": [b / PHASE_BINS, (b + 1) / PHASE_BINS], "steps": int(self.info_counts[key])}
            prefix = phase_bin_key(b, "")
            for k, v in self.info_sums.items():
                if k.startswith(prefix):
                    name = k[len(prefix):]
                    row[name] = int(v) if name == "falls" else v / max(self.info_counts[k], 1)
            row.setdefault("falls", 0)
            rows.append(row)
        return rows

    def stats(self, prefix: str = "") -> dict[str, float]:
        """Episode statistics (mean return, normalised return, length, info means)."""
        out = {
            f"{prefix}episodes": float(self.num_paths),
            f"{prefix}mean_return": float(np.mean(self.returns)) if self.num_paths else float("nan"),
            f"{prefix}std_return": float(np.std(self.returns)) if self.num_paths else float("nan"),
            f"{prefix}mean_length": float(np.mean(self.lengths)) if self.num_paths else float("nan"),
            f"{prefix}normalized_return": (float(np.mean(self.normalized_returns))
                                           if self.num_paths else float("nan")),
            f"{prefix}failure_rate": float(np.mean(self.terminated)) if self.num_paths else float("nan"),
        }
        for k, v in self.info_means().items():
            out[f"{prefix}{k}"] = float(v)
        return out

    def to_dataset(self) -> dict[str, np.ndarray]:
        """Flat arrays for ``np.savez``: per-step terminated/truncated flags mark path ends."""
        ends = np.cumsum(self.lengths) - 1
        term = np.zeros(self.num_samples, bool)
        trunc = np.zeros(self.num_samples, bool)
        term[ends] = self.terminated
        trunc[ends] = self.truncated
        return {"obs": self.obs, "actions": self.actions, "rewards": self.rewards,
                "terminated": term, "truncated": trunc, "final_obs": self.final_obs,
                "path_lengths": self.lengths, "returns": self.returns,
                "normalized_returns": self.normalized_returns}


class Sampler(abc.ABC):
    """Collects whole paths with the current policy weights.

    Calls are numbered; a call's randomness (env reset seeds, action noise) is a
    function of (seed, worker index, call number) only, so a run is reproducible
    for a given seed and worker count and can be resumed from a call number.

    `max_episode_seconds` (DeepMimic's horizon curriculum): training episodes of that call end with
    truncated=True after ceil(seconds * control_hz) steps. It applies to envs with a `time_limit` and a
    `control_hz` (the imitation env) and is ignored for others; evaluation episodes are never capped.
    """

    calls: int = 0
    # the env's episode time limit in seconds (imitation envs), None when it has none
    time_limit: float | None = None

    @abc.abstractmethod
    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Policy state dict (numpy) used by the following calls."""

    @abc.abstractmethod
    def start(self, min_samples: int, mode: str = "policy", max_episode_seconds: float | None = None,
              action_std: float | None = None, adaptive_rsi: float = 0.0) -> None:
        """Begin collecting at least `min_samples` steps of whole paths (mode: policy | random).

        `max_episode_seconds`: cap on the training episodes of this call (None: the env's time limit).
        `action_std`: exploration std of this call's actions (None: the policy's own, from its kwargs).
        `adaptive_rsi`: imitation envs, the share of training episodes started where recent ones fell
        (sampling/starts.py); 0 is DeepMimic's uniform RSI.
        """

    @abc.abstractmethod
    def wait(self) -> PathBatch:
        """The batch requested by the last :meth:`start`."""

    def sample(self, min_samples: int, mode: str = "policy", max_episode_seconds: float | None = None,
               action_std: float | None = None, adaptive_rsi: float = 0.0) -> PathBatch:
        self.start(min_samples, mode, max_episode_seconds, action_std, adaptive_rsi)
        return self.wait()

    @abc.abstractmethod
    def evaluate(self, episodes: int) -> PathBatch:
        """`episodes` deterministic episodes; episode k always starts from the same seed."""

    @abc.abstractmethod
    def close(self) -> None:
        ...

    def state_dict(self) -> dict:
        return {"calls": self.calls}

    def load_state_dict(self, state: dict) -> None:
        self.calls = int(state["calls"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
