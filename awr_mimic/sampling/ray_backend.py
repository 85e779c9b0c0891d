"""Ray sampler: one Ray actor per worker, on one machine or a cluster.

Each actor owns a :func:`~awr_mimic.sampling.rollout.make_rollout` (its envs),
runs torch with one thread and reserves one CPU. The driver puts the policy
weights in the object store once per :meth:`RaySampler.set_weights` (one
``ray.put`` per iteration, not one per actor); an actor loads them only when
their version changes. Shares and seeds are those of :class:`LocalSampler`
(worker i collects ceil(min_samples / N) steps of whole paths seeded by
(seed, i, call number), assembled in worker order), so with the same seed and
worker count both backends return identical batches.

Faults: an actor that dies (process killed, node lost) is replaced by a new
actor with the same index. Its share of the call in flight is dropped and the
call returns the other actors' paths; the dropped share is logged and counted
in :attr:`RaySampler.lost_samples` / :attr:`RaySampler.actor_restarts`. If
every actor of a call died, the call is repeated on the replacements (so a
call never returns an empty batch), at most ``_MAX_FULL_RETRIES`` times.

Ray is imported lazily: the local backend never needs it.
"""
from __future__ import annotations

import logging
import math
import os
import time

import numpy as np

from awr_mimic.errors import AwrMimicError, ConfigError
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.sampling.base import PathBatch, Sampler

log = logging.getLogger(__name__)

_MAX_FULL_RETRIES = 3  # calls in which every actor died, repeated on the replacements


def import_ray():
    """``ray``, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise AwrMimicError("ray is not installed: pip install 'awr-mimic[ray]'") from None
    return ray


class _RolloutActor:
    """What runs inside a Ray actor: a rollout plus the version of the weights it holds."""

    def __init__(self, env_spec, policy_kwargs, seed, index, envs_per_worker):
        import torch

        torch.set_num_threads(1)  # one core per actor (num_cpus=1)
        from awr_mimic.sampling.rollout import make_rollout

        self.version = -1
        self.error = None
        self.last_run_s = 0.0  # compute time of the last call (weights included), for `bench sample`
        try:
            self.rollout = make_rollout(env_spec, policy_kwargs, seed, index, envs_per_worker)
        except BaseException as exc:  # noqa: BLE001 - reported by ready()
            from awr_mimic.sampling.local import _portable

            self.rollout, self.error = None, _portable(exc)

    def ready(self):
        if self.error is not None:
            return "error", self.error
        return "ready", (self.rollout.space, os.getpid(), self.rollout.time_limit)

    def _weights(self, version, box):
        if version != self.version and box is not None:
            import ray

            weights = ray.get(box[0])  # read-only views of the object store: copy into the policy
            self.rollout.set_weights({k: np.array(v) for k, v in weights.items()})
            self.version = version

    def run(self, version, box, min_samples, call, mode, max_episode_seconds=None, action_std=None,
            adaptive_rsi=0.0):
        t0 = time.perf_counter()
        self._weights(version, box)
        out = self.rollout.run(min_samples, call, mode, max_episode_seconds, action_std, adaptive_rsi)
        self.last_run_s = time.perf_counter() - t0
        return out

    def timing(self):
        return self.last_run_s

    def run_episodes(self, version, box, ids, mode):
        self._weights(version, box)
        return self.rollout.run_episodes(ids, mode)

    def close(self):
        if self.rollout is not None:
            self.rollout.close()


_REMOTE = None


def _remote_class():
    global _REMOTE
    if _REMOTE is None:
        ray = import_ray()
        # max_restarts=0: the sampler replaces dead actors itself (and knows which share was lost)
        _REMOTE = ray.remote(num_cpus=1, max_restarts=0)(_RolloutActor)
    return _REMOTE


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """A one-line error for a HOST:PORT nobody listens on (ray.init would retry for minutes)."""
    if not address or address == "auto" or "://" in address or ":" not in address:
        return
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise AwrMimicError(f"cannot reach a Ray cluster at {address}: {exc} (start its head with "
                            "`ray start --head --port=6379`)") from None


def _lost_errors(ray):
    ex = ray.exceptions
    return tuple(getattr(ex, n) for n in ("RayActorError", "WorkerCrashedError", "NodeDiedError",
                                          "ObjectLostError", "OwnerDiedError") if hasattr(ex, n))


def _copy(b: PathBatch) -> PathBatch:
    """Writable arrays owned by the driver (results from the object store are read-only views)."""
    return PathBatch(*(np.array(getattr(b, k)) for k in ("obs", "actions", "rewards", "lengths", "terminated",
                                                          "truncated", "final_obs", "returns",
                                                          "normalized_returns")),
                     dict(b.info_sums), dict(b.info_counts))


class RaySampler(Sampler):
    """`workers` Ray actors; `address`: None starts a local Ray instance, "auto" or "HOST:PORT" joins a cluster.

    If Ray is already initialised (``ray.init`` by the caller) that instance is used and left running.
    """

    def __init__(self, env_spec: EnvSpec, policy_kwargs: dict | None, seed: int = 0, workers: int | None = None,
                 envs_per_worker: int = 1, address: str | None = None, init_kwargs: dict | None = None):
        env_spec.check_clip(note=True)  # before Ray starts or connects
        ray = import_ray()
        self._ray = ray
        self._lost = _lost_errors(ray)
        self.env_spec = env_spec
        self.policy_kwargs = policy_kwargs
        self.seed = int(seed)
        self.envs_per_worker = int(envs_per_worker)
        self.calls = 0
        self.lost_samples = 0  # requested steps of calls whose actor died (shares dropped)
        self.actor_restarts = 0
        self._pending = None
        self._version, self._box = 0, None
        self._actors: list = []
        self.pids: list[int] = []
        self._owns_ray = False
        if not ray.is_initialized():
            _check_reachable(address)
            kwargs = dict(include_dashboard=False, logging_level=logging.WARNING)
            kwargs.update(init_kwargs or {})
            try:
                ray.init(address=address, **kwargs)
            except ConnectionError as exc:
                raise AwrMimicError(f"cannot reach a Ray cluster at {address}: {str(exc).splitlines()[0]} "
                                    "(start its head with `ray start --head --port=6379`)") from None
            self._owns_ray = True
        try:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            self.num_workers = (os.cpu_count() or 1) if workers is None else int(workers)
            if self.num_workers < 1:
                raise ConfigError("the ray backend needs workers >= 1 (workers=0 samples in-process: use "
                                  "backend local)")
            if self.num_workers > cpus:
                raise ConfigError(f"{self.num_workers} Ray workers need {self.num_workers} CPUs; the cluster has "
                                  f"{cpus} (add nodes with `ray start --address HEAD:6379` or lower --workers)")
            self._actors = [self._new_actor(i) for i in range(self.num_workers)]
            spaces = [self._ready(a) for a in self._actors]
        except BaseException:
            self.close()
            raise
        self.space, self.time_limit = spaces[0][0], spaces[0][2]
        self.pids = [p for _, p, _ in spaces]

    # -- actors ---------------------------------------------------------------
    def _new_actor(self, index: int):
        return _remote_class().remote(self.env_spec, self.policy_kwargs, self.seed, index, self.envs_per_worker)

    def _ready(self, actor):
        status, payload = self._ray.get(actor.ready.remote())
        if status == "error":
            raise payload
        return payload

    def _replace(self, index: int, what: str, exc: BaseException) -> None:
        """Drop a dead actor and start its replacement (it becomes ready in the background)."""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"ray sampler: actor {index} lost ({type(exc).__name__}: {first[:200]}); {what}; replacing it"
        log.warning(msg)  # no handler configured: Python prints warnings to stderr
        try:
            self._ray.kill(self._actors[index], no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self._actors[index] = self._new_actor(index)
        self.actor_restarts += 1
        if index < len(self.pids):
            self.pids[index] = -1  # unknown until the replacement answers

    def _get(self, ref):
        """Result of an actor call, re-raising user errors (AwrMimicError) as themselves."""
        try:
            return self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, AwrMimicError):
                raise cause from None
            raise

    def actor_pid(self, index: int) -> int:
        """Process id of actor `index` (waits for a replacement to start)."""
        if self.pids[index] < 0:
            self.pids[index] = self._ready(self._actors[index])[1]
        return self.pids[index]

    def last_compute_s(self) -> list[float]:
        """Each actor's compute time in the last call (weights + rollout, without Ray's plumbing)."""
        return [float(t) for t in self._ray.get([a.timing.remote() for a in self._actors])]

    @property
    def actors(self) -> list:
        return list(self._actors)

    @property
    def workers(self) -> int:
        return self.num_workers

    # -- Sampler --------------------------------------------------------------
    def set_weights(self, weights) -> None:
        self._version += 1
        # one object for all actors; boxed in a list so actors fetch it only when the version changed
        self._box = [self._ray.put(weights)]

    def _submit(self, index: int, share: int, call: int, mode: str, max_episode_seconds: float | None = None,
                action_std: float | None = None, adaptive_rsi: float = 0.0):
        return self._actors[index].run.remote(self._version, self._box, share, call, mode, max_episode_seconds,
                                              action_std, adaptive_rsi)

    def start(self, min_samples: int, mode: str = "policy", max_episode_seconds: float | None = None,
              action_std: float | None = None, adaptive_rsi: float = 0.0) -> None:
        if self._pending is not None:
            raise RuntimeError("sampler: start() called twice without wait()")
        call = self.calls
        self.calls += 1
        share = max(1, math.ceil(min_samples / self.num_workers))
        refs = [self._submit(i, share, call, mode, max_episode_seconds, action_std, adaptive_rsi)
                for i in range(self.num_workers)]
        self._pending = (refs, share, call, mode, max_episode_seconds, action_std, adaptive_rsi)

    def wait(self) -> PathBatch:
        if self._pending is None:
            raise RuntimeError("sampler: wait() without start()")
        refs, share, call, mode, max_episode_seconds, action_std, adaptive_rsi = self._pending
        self._pending = None
        for attempt in range(_MAX_FULL_RETRIES + 1):
            parts = []
            for i, ref in enumerate(refs):
                try:
                    parts.append(self._get(ref))
                except self._lost as exc:
                    self.lost_samples += share
                    self._replace(i, f"its share of call {call} ({share} samples) is dropped", exc)
            if parts:
                return _copy(PathBatch.concat(parts))
            if attempt < _MAX_FULL_RETRIES:
                log.warning("ray sampler: every actor of call %d died; repeating it on the replacements", call)
                refs = [self._submit(i, share, call, mode, max_episode_seconds, action_std, adaptive_rsi)
                        for i in range(self.num_workers)]
        raise AwrMimicError(f"ray sampler: every actor died in {_MAX_FULL_RETRIES + 1} attempts at call {call}")

    def evaluate(self, episodes: int) -> PathBatch:
        if self._pending is not None:
            raise RuntimeError("sampler: evaluate() while a sample request is running")
        from awr_mimic.sampling.local import _reorder

        w = self.num_workers
        todo = {i: list(range(i, episodes, w)) for i in range(min(w, episodes))}
        done: dict[int, PathBatch] = {}
        for _ in range(_MAX_FULL_RETRIES + 1):
            refs = {i: self._actors[i].run_episodes.remote(self._version, self._box, ids, "eval")
                    for i, ids in todo.items() if i not in done}
            for i, ref in refs.items():
                try:
                    done[i] = self._get(ref)
                except self._lost as exc:
                    # evaluation episodes are deterministic: run them again on the replacement
                    self._replace(i, "its evaluation episodes are repeated", exc)
            if len(done) == len(todo):
                break
        else:
            raise AwrMimicError("ray sampler: evaluation actors kept dying")
        order = np.argsort(np.concatenate([todo[i] for i in sorted(todo)]), kind="stable")
        return _reorder(_copy(PathBatch.concat([done[i] for i in sorted(todo)])), order)

    def state_dict(self) -> dict:
        return {"calls": self.calls, "lost_samples": self.lost_samples, "actor_restarts": self.actor_restarts}

    def load_state_dict(self, state: dict) -> None:
        self.calls = int(state["calls"])
        self.lost_samples = int(state.get("lost_samples", 0))
        self.actor_restarts = int(state.get("actor_restarts", 0))

    def close(self) -> None:
        ray = self._ray
        if self._actors and ray.is_initialized():
            try:
                ray.wait([a.close.remote() for a in self._actors], num_returns=len(self._actors), timeout=5)
            except Exception:  # noqa: BLE001 - dead actors
                pass
            for a in self._actors:
                try:
                    ray.kill(a, no_restart=True)
                except Exception:  # noqa: BLE001
                    pass
        self._actors, self._pending = [], None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False
