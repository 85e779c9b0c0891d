"""FIFO replay buffer of whole paths in preallocated numpy arrays.

A path of T steps takes T+1 consecutive rows: rows for s_0..s_{T-1} (with
action and reward) and one row holding the final observation s_T, whose value
bootstraps truncated paths. Paths never wrap around the end of the arrays: when
one does not fit at the tail the write position jumps to row 0 (at most one
path's worth of rows goes unused). Adding a path evicts the oldest paths until
its rows are free, so the valid paths are always the most recent ones.

Memory: 4 * (obs_dim + act_dim + 2) bytes per row (float32 obs, action, reward
and cached value); for the humanoid (197 + 28) about 0.9 KB, so 500k rows take
~460 MB.
"""
from __future__ import annotations

from collections import deque

import numpy as np
import torch

from awr_mimic.errors import ConfigError


def _numpy(x, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype)


class PathBuffer:
    def __init__(self, capacity: int, obs_dim: int, act_dim: int, discrete: bool = False):
        self.capacity = int(capacity)
        self.obs_dim, self.act_dim, self.discrete = obs_dim, act_dim, discrete
        self.obs = np.zeros((self.capacity, obs_dim), np.float32)
        self.act = np.zeros((self.capacity,) if discrete else (self.capacity, act_dim),
                            np.int64 if discrete else np.float32)
        self.rew = np.zeros(self.capacity, np.float32)
        self.val = np.zeros(self.capacity, np.float32)  # cached V(s) per row
        # path table, oldest first: (start row, length T, terminated, tag)
        self.paths: deque[tuple[int, int, bool, int]] = deque()
        self.head = 0
        self.num_samples = 0
        self.refresh_ptr = 0  # rotating value refresh position (rows)
        self._cache = None  # index arrays, rebuilt when the path set changes

    def __len__(self) -> int:
        return self.num_samples

    @property
    def num_paths(self) -> int:
        return len(self.paths)

    def clear(self) -> None:
        self.paths.clear()
        self.head = 0
        self.num_samples = 0
        self._cache = None

    def _evict_for(self, rows: int) -> int:
        """Evict the oldest paths until `rows` consecutive rows are free; returns the start row."""
        h, paths = self.head, self.paths
        if h + rows > self.capacity:
            # jump to row 0: the paths left in the tail are the oldest, they go first
            while paths and paths[0][0] >= h:
                self.num_samples -= paths.popleft()[1]
            h = 0
        # paths ahead of the writer are the oldest ones, in ascending row order
        while paths and h <= paths[0][0] < h + rows:
            self.num_samples -= paths.popleft()[1]
        return h

    def add_path(self, obs: np.ndarray, act: np.ndarray, rew: np.ndarray, final_obs: np.ndarray,
                 terminated: bool, tag: int = -1) -> int:
        """Append one path; returns its start row. `tag` records where it came from (checkpoints)."""
        T = len(rew)
        rows = T + 1
        if T == 0:
            return -1
        if rows > self.capacity:
            raise ConfigError(f"buffer_size {self.capacity} is smaller than one path ({rows} rows)")
        start = self._evict_for(rows)
        self.obs[start:start + T] = obs
        self.obs[start + T] = final_obs
        self.act[start:start + T] = act
        self.rew[start:start + T] = rew
        self.rew[start + T] = 0.0
        self.paths.append((start, T, bool(terminated), int(tag)))
        self.num_samples += T
        self.head = start + rows
        if self.head >= self.capacity:
            self.head = 0
        self._cache = None
        return start

    TAG_SHIFT = 24  # tag of path i of batch b: (b << TAG_SHIFT) | i

    def add_batch(self, batch, tag: int = -1) -> np.ndarray:
        """Add every path of a :class:`~awr_mimic.sampling.PathBatch`; returns their start rows."""
        starts = []
        offs = np.concatenate([[0], np.cumsum(batch.lengths)])
        for i, T in enumerate(batch.lengths):
            a, b = offs[i], offs[i + 1]
            starts.append(self.add_path(batch.obs[a:b], batch.actions[a:b], batch.rewards[a:b],
                                        batch.final_obs[i], bool(batch.terminated[i]),
                                        (tag << self.TAG_SHIFT) | i if tag >= 0 else -1))
        return np.asarray(starts, np.int64)

    # -- indices ------------------------------------------------------------
    def index(self) -> dict[str, np.ndarray]:
        """Row indices of the valid samples (oldest path first) and the path table as arrays."""
        if self._cache is None:
            starts = np.fromiter((p[0] for p in self.paths), np.int64, len(self.paths))
            lengths = np.fromiter((p[1] for p in self.paths), np.int64, len(self.paths))
            term = np.fromiter((p[2] for p in self.paths), bool, len(self.paths))
            tags = np.fromiter((p[3] for p in self.paths), np.int64, len(self.paths))
            n = int(lengths.sum())
            # rows = start of own path + offset within it, without a python loop per sample
            rows = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(n)
            self._cache = {"rows": rows, "starts": starts, "lengths": lengths, "terminated": term,
                           "tags": tags, "end_rows": starts + lengths}
        return self._cache

    def path_rows(self) -> np.ndarray:
        """All rows in use (samples and final observations)."""
        ix = self.index()
        return np.sort(np.concatenate([ix["rows"], ix["end_rows"]]))

    # -- checkpoints ----------------------------------------------------------
    def state_dict(self) -> dict:
        """The path table and value cache as tensors (checkpoints load with weights_only)."""
        ix = self.index()
        return {"capacity": self.capacity, "head": self.head, "refresh_ptr": self.refresh_ptr,
                "starts": torch.from_numpy(ix["starts"].copy()), "lengths": torch.from_numpy(ix["lengths"].copy()),
                "terminated": torch.from_numpy(ix["terminated"].copy()), "tags": torch.from_numpy(ix["tags"].copy()),
                "val": torch.from_numpy(self.val.copy())}

    @staticmethod
    def table(state: dict) -> dict[str, np.ndarray]:
        """The path table of a :meth:`state_dict` (tensors, or format-1 numpy arrays) as numpy arrays."""
        return {k: _numpy(state[k], dt) for k, dt in (("starts", np.int64), ("lengths", np.int64),
                                                      ("terminated", bool), ("tags", np.int64))}

    def load_state(self, state: dict, path_of_tag) -> None:
        """Rebuild from :meth:`state_dict`; `path_of_tag(tag)` returns that path's
        (obs, act, rew, final_obs) arrays."""
        self.clear()
        t = self.table(state)
        for s, T, term, tag in zip(t["starts"], t["lengths"], t["terminated"], t["tags"]):
            obs, act, rew, fin = path_of_tag(int(tag))
            s, T = int(s), int(T)
            if len(rew) != T:
                raise ConfigError(f"buffer chunk for path tag {int(tag)} does not match the checkpoint")
            self.obs[s:s + T], self.obs[s + T] = obs, fin
            self.act[s:s + T], self.rew[s:s + T] = act, rew
            self.paths.append((s, T, bool(term), int(tag)))
            self.num_samples += T
        self.head = int(state["head"])
        self.refresh_ptr = int(state["refresh_ptr"])
        self.val[:] = _numpy(state["val"], np.float32)
        self._cache = None
