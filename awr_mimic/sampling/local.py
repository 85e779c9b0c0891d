"""Local sampler: N worker processes (or the calling process when N = 0).

Each worker owns one env, runs torch with one thread and collects a fixed share
(ceil(min_samples / N)) of every request, so the assembled batch - in worker
order - depends only on (seed, N, call number). Workers are started with
``forkserver`` (``spawn`` where unavailable): pybullet and torch are fragile
after a plain fork.
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import sys
import traceback

import numpy as np

from awr_mimic.errors import AwrMimicError
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.sampling.base import PathBatch, Sampler


def _worker(conn, env_spec, policy_kwargs, seed, index, envs_per_worker=1):
    import torch

    torch.set_num_threads(1)  # one core per worker; the learner gets the rest
    from awr_mimic.sampling.rollout import make_rollout

    try:
        rollout = make_rollout(env_spec, policy_kwargs, seed, index, envs_per_worker)
        conn.send(("ready", (rollout.space, rollout.time_limit)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", _portable(exc)))
        return
    while True:
        try:
            cmd, payload = conn.recv()
        except (EOFError, KeyboardInterrupt):
            break
        try:
            if cmd == "close":
                break
            if cmd == "weights":
                rollout.set_weights(payload)
                continue
            if cmd == "sample":
                conn.send(("ok", rollout.run(*payload)))
            elif cmd == "episodes":
                conn.send(("ok", rollout.run_episodes(*payload)))
        except (KeyboardInterrupt, BrokenPipeError, ConnectionResetError):
            break  # stopped, or the trainer is gone (stopped by a signal): nobody to report to
        except BaseException as exc:  # noqa: BLE001
            try:
                conn.send(("error", _portable(exc)))
            except (BrokenPipeError, ConnectionResetError):
                break
    rollout.close()


@contextlib.contextmanager
def _main_module_hidden():
    """Start workers without re-running the user's script in them.

    spawn/forkserver children normally re-import ``__main__``; a plain script that calls
    ``Trainer(...).train()`` without an ``if __name__ == "__main__"`` guard would then start
    trainers recursively. Workers only need importable modules (register custom envs in a
    module and use ``"module:EnvId-v0"`` ids).
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if main is None or (path is None and spec is None):
        yield
        return
    if path is not None:
        del main.__file__
    main.__spec__ = None
    try:
        yield
    finally:
        if path is not None:
            main.__file__ = path
        main.__spec__ = spec


def _portable(exc: BaseException) -> BaseException:
    if isinstance(exc, AwrMimicError):
        return exc
    return RuntimeError(f"sampler worker failed: {exc!r}\n{traceback.format_exc()}")


class LocalSampler(Sampler):
    def __init__(self, env_spec: EnvSpec, policy_kwargs: dict | None, seed: int = 0,
                 workers: int | None = None, start_method: str | None = None, envs_per_worker: int = 1):
        env_spec.check_clip(note=True)  # a clip stored by name and not here: one line, before any worker starts
        self.env_spec = env_spec
        self.seed = int(seed)
        self.num_workers = (os.cpu_count() or 1) if workers is None else int(workers)
        self.calls = 0
        self._pending = None
        self._conns, self._procs, self._local = [], [], None
        if self.num_workers == 0:
            from awr_mimic.sampling.rollout import make_rollout

            self._local = make_rollout(env_spec, policy_kwargs, seed, 0, envs_per_worker)
            self.space, self.time_limit = self._local.space, self._local.time_limit
            return
        method = start_method or ("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        ctx = mp.get_context(method)
        if method == "forkserver":
            # import torch/gymnasium once in the server instead of in every worker
            ctx.set_forkserver_preload(["awr_mimic.sampling.rollout"])
        try:
            for i in range(self.num_workers):
                parent, child = ctx.Pipe()
                p = ctx.Process(target=_worker, args=(child, env_spec, policy_kwargs, self.seed, i, envs_per_worker), daemon=True)
                with _main_module_hidden():
                    p.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(p)
            spaces = [self._recv(c) for c in self._conns]
        except BaseException:
            self.close()
            raise
        self.space, self.time_limit = spaces[0]

    def _recv(self, conn):
        try:
            status, payload = conn.recv()
        except EOFError:
            raise RuntimeError("a sampler worker died (see its output above)") from None
        if status == "error":
            raise payload
        return payload

    @property
    def workers(self) -> int:
        return self.num_workers

    def set_weights(self, weights) -> None:
        if self._local is not None:
            self._local.set_weights(weights)
        for c in self._conns:
            c.send(("weights", weights))

    def start(self, min_samples: int, mode: str = "policy", max_episode_seconds: float | None = None,
              action_std: float | None = None, adaptive_rsi: float = 0.0) -> None:
        if self._pending is not None:
            raise RuntimeError("sampler: start() called twice without wait()")
        call = self.calls
        self.calls += 1
        if self._local is not None:
            self._pending = ("local", (int(min_samples), call, mode, max_episode_seconds, action_std,
                                       adaptive_rsi))
            return
        share = max(1, math.ceil(min_samples / self.num_workers))
        for c in self._conns:
            c.send(("sample", (share, call, mode, max_episode_seconds, action_std, adaptive_rsi)))
        self._pending = ("remote", None)

    def wait(self) -> PathBatch:
        if self._pending is None:
            raise RuntimeError("sampler: wait() without start()")
        kind, args = self._pending
        self._pending = None
        if kind == "local":
            return self._local.run(*args)
        return PathBatch.concat([self._recv(c) for c in self._conns])

    def evaluate(self, episodes: int) -> PathBatch:
        if self._pending is not None:
            raise RuntimeError("sampler: evaluate() while a sample request is running")
        if self._local is not None:
            return self._local.run_episodes(range(episodes))
        w = self.num_workers
        used = [(c, list(range(i, episodes, w))) for i, c in enumerate(self._conns) if i < episodes]
        for c, ids in used:
            c.send(("episodes", (ids, "eval")))
        parts = [self._recv(c) for c, _ in used]
        # back to episode order so results do not depend on the worker count
        order = np.argsort(np.concatenate([ids for _, ids in used]), kind="stable")
        return _reorder(PathBatch.concat(parts), order)

    def close(self) -> None:
        for c in self._conns:
            try:
                c.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2)
        for c in self._conns:
            c.close()
        self._conns, self._procs = [], []
        if self._local is not None:
            self._local.close()
            self._local = None


def _reorder(b: PathBatch, order: np.ndarray) -> PathBatch:
    offs = np.concatenate([[0], np.cumsum(b.lengths)])
    steps = np.concatenate([np.arange(offs[i], offs[i + 1]) for i in order]) if len(order) else np.zeros(0, int)
    return PathBatch(b.obs[steps], b.actions[steps], b.rewards[steps], b.lengths[order], b.terminated[order],
                     b.truncated[order], b.final_obs[order], b.returns[order], b.normalized_returns[order],
                     b.info_sums, b.info_counts)
