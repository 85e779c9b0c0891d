"""The training loop, run directories, checkpoints and resume.

Python API::

    from awr_mimic import Trainer
    result = Trainer("awr", env="CartPole-v1", seed=42, config={"beta": 1.0}).train(total_timesteps=50_000)
    result["mean_reward"]   # mean return of deterministic evaluation episodes
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from awr_mimic.errors import AwrMimicError, ConfigError, unknown_name
from awr_mimic.learning import config as config_mod
from awr_mimic.learning.awr import AWR, policy_kwargs
from awr_mimic.learning.buffer import PathBuffer
from awr_mimic.learning.checkpoint import (as_numpy, load_checkpoint, rng_states, save_checkpoint, save_npz,
                                           set_rng_states)
from awr_mimic.learning.config import AWRConfig
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.learning.networks import SpaceInfo, policy_weights
from awr_mimic.physics_revision import PHYSICS_REVISION, physics_changes

CSV_COLUMNS = [
    "iteration", "samples", "time_s", "samples_per_s", "mean_return", "normalized_return", "mean_length",
    "episodes", "eval_mean_return", "eval_normalized_return", "eval_mean_length", "critic_loss", "actor_loss",
    "adv_mean", "adv_std", "weight_mean", "weight_clipped", "value_mean", "buffer_samples", "sample_time_s",
    "update_time_s", "update_share", "eval_time_s", "lost_samples", "actor_restarts", "train_time_cap_s",
    "action_std",
]
# progress.csv columns that depend on the machine's clock, not on the run's data
WALL_CLOCK_COLUMNS = ("time_s", "samples_per_s", "sample_time_s", "update_time_s", "update_share", "eval_time_s")
DATASET_TAG = 0  # buffer tag of paths loaded from a dataset; online batches use their iteration (>= 1)
FINAL_EVAL_EPISODES = 10


def default_preset(spec: EnvSpec) -> str:
    """The imitation env gets Peng's motion-imitation values, everything else the Gym ones."""
    return "mimic" if spec.is_mimic else "gym"


def horizon_cap(samples: int, anneal_samples: int, start_s: float, end_s: float, power: float = 4.0) -> float:
    """DeepMimic's horizon curriculum (util/Annealer.cpp): the training episode time cap after `samples`,
    start + (end - start) * min(1, samples / anneal_samples) ** power seconds, never above `end_s`."""
    frac = min(1.0, max(0.0, samples / anneal_samples))
    return min(end_s, start_s + (end_s - start_s) * frac ** power)


def exploration_std(samples: int, start: float, end: float | None, anneal_samples: int,
                    anneal_start: int = 0) -> float:
    """The action std after `samples`: `start` until `anneal_start` samples, then linear to `end` over
    `anneal_samples` more (a step when 0), then `end`."""
    if end is None or samples < anneal_start:
        return start
    if anneal_samples <= 0:
        return end
    frac = min(1.0, (samples - anneal_start) / anneal_samples)
    return start + (end - start) * frac


def _probe_space(spec: EnvSpec) -> SpaceInfo:
    """Spaces of a (cheap) gym env, to pick the per-action-type defaults."""
    env = spec.make()
    try:
        return SpaceInfo.from_env(env)
    finally:
        env.close()


def _resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda requested but torch has no CUDA device here")
    return name


class Trainer:
    """AWR on any gymnasium env with a flat Box observation and Box/Discrete actions.

    env: a gymnasium id, an :class:`EnvSpec`, or None with an offline `dataset` that names its env.
    config: dataclass fields of :class:`AWRConfig` or rlox-style aliases (learning_rate, batch_size,
    n_critic_updates, max_advantage, ...). preset: "mimic" | "gym" (default: by env).
    run_dir: where logs and checkpoints go (None: nothing is written).
    """

    def __init__(self, algo: str = "awr", env: str | EnvSpec | None = None, *, env_kwargs: dict | None = None,
                 seed: int | None = None, config: dict | AWRConfig | None = None, preset: str | None = None,
                 dataset: str | os.PathLike | None = None, offline: bool | None = None,
                 run_dir: str | os.PathLike | None = None, workers: int | None = None, device: str | None = None,
                 progress: bool = False, _state: dict | None = None):
        if algo.lower() != "awr":
            raise unknown_name("algorithm", algo, ["awr"])
        self.dataset_path = str(dataset) if dataset is not None else None
        self.dataset_sha256 = None
        self.offline = bool(offline if offline is not None else dataset is not None)
        if self.offline and dataset is None:
            raise ConfigError("offline training needs a dataset")
        data, data_space = None, None
        if dataset is not None:
            from awr_mimic.learning.dataset import load_dataset

            data, data_spec, data_space = load_dataset(dataset)
            from awr_mimic.paths import file_sha256

            self.dataset_sha256 = file_sha256(dataset)  # resume reads the stored path only if it still holds this
            if env is None:
                if data_spec is None:
                    raise ConfigError(f"dataset {dataset} does not name its env; pass env=")
                env = data_spec
        if env is None:
            raise ConfigError("Trainer needs env= (a gymnasium id or EnvSpec) or a dataset")
        self.env_spec = EnvSpec.coerce(env, env_kwargs)

        if isinstance(config, AWRConfig):
            cfg = config
        else:
            overrides = dict(config or {})
            if seed is not None:
                overrides["seed"] = seed
            if workers is not None:
                overrides["workers"] = workers
            if device is not None:
                overrides["device"] = device
            if data_space is not None:
                space = data_space
            elif self.env_spec.is_mimic:
                space = None  # Box actions; built by the workers only
            else:
                space = _probe_space(self.env_spec)
            cfg = config_mod.resolve(preset, overrides, default_preset=default_preset(self.env_spec),
                                     discrete=bool(space and space.discrete))
        if data is not None and self.offline:
            # the dataset is the buffer: make it big enough to hold all of it
            need = data.num_samples + data.num_paths
            if cfg.buffer_size < need:
                cfg = cfg.replace(buffer_size=need)
        self.cfg = cfg
        self.device = _resolve_device(cfg.device)
        self.progress = progress
        self.run_dir = Path(run_dir) if run_dir is not None else None

        self._set_threads()
        self.sampler = None
        self._eval_rollout = None
        if not self.offline or data_space is None:
            self.sampler = self._make_sampler()
            self.space = self.sampler.space
            if cfg.horizon_curriculum_samples > 0 and self.sampler.time_limit is None and not self.offline:
                import sys

                print(f"horizon_curriculum_samples: ignored, {self.env_spec.id} has no time limit in seconds "
                      "(imitation envs only)", file=sys.stderr, flush=True)
        else:
            self.space = data_space
        self.algo = AWR(self.space, cfg, self.device)

        self.iteration = 0
        self.samples = 0  # env samples collected (online) / nominal samples (offline)
        self.episodes = 0
        self.elapsed = 0.0
        self.best_score = -math.inf
        self.last_eval: dict = {}
        self._inflight_weights = None  # overlap: weights of the request in flight
        self._inflight_cap = None  # and its training episode time cap
        self._inflight_std = cfg.action_std  # and its exploration std
        self._writer = None

        if data is not None:
            self._data = data
            self.algo.add_batch(data, tag=DATASET_TAG)
        else:
            self._data = None
        if _state is not None:
            self._restore(_state)
        if self.run_dir is not None:
            self._open_run_dir(resumed=_state is not None)

    # -- construction helpers -------------------------------------------------
    def _set_threads(self) -> None:
        cfg = self.cfg
        cores = os.cpu_count() or 1
        w = cfg.resolved_workers()
        if cfg.learner_threads is not None:
            n = cfg.learner_threads
        elif max(cfg.actor_hidden + cfg.critic_hidden) <= 256:
            n = 1  # small nets: a second thread gains nothing and stalls when the other core is busy
        elif cfg.overlap and w > 0:
            n = max(1, cores - w)  # workers are busy while we learn
        else:
            n = cores
        torch.set_num_threads(n)

    def _make_sampler(self):
        from awr_mimic.sampling import make_sampler

        return make_sampler(self.env_spec, policy_kwargs(self.cfg), seed=self.cfg.seed,
                            workers=self.cfg.resolved_workers(), envs_per_worker=self.cfg.envs_per_worker,
                            backend=self.cfg.backend, address=self.cfg.ray_address)

    def _eval_sampler(self):
        """Evaluation runs in the workers, or in-process while a sample request is in flight."""
        if self.sampler is not None and self.sampler._pending is None:
            self.sampler.set_weights(self.algo.policy_weights())
            return self.sampler
        if self._eval_rollout is None:
            from awr_mimic.sampling.local import LocalSampler

            self._eval_rollout = LocalSampler(self.env_spec, policy_kwargs(self.cfg), seed=self.cfg.seed, workers=0,
                                              envs_per_worker=self.cfg.envs_per_worker)
        self._eval_rollout.set_weights(self.algo.policy_weights())
        return self._eval_rollout

    # -- public API -----------------------------------------------------------
    @classmethod
    def resume(cls, run_dir: str | os.PathLike, *, out: str | os.PathLike | None = None, workers: int | None = None,
               progress: bool = False, dataset: str | None = None, ray_address: str | None = None,
               changes: dict | None = None, backend: str | None = None, device: str | None = None,
               clip: str | None = None) -> "Trainer":
        """Continue a run from ``run_dir/checkpoint.pt`` (and its buffer chunks).

        `run_dir` may also be a checkpoint file (a slim one, ``best.pt``, a ``checkpoint.pt`` copied
        elsewhere): the run then continues in `out` (required unless the file is ``<dir>/checkpoint.pt``,
        which resumes ``<dir>``). A checkpoint without a buffer table, or whose buffer chunks are
        gone, resumes with an empty buffer that refills from new samples (one line says so).

        The checkpoint is data (awr_mimic.learning.untrusted): where and how the run runs never comes
        from it. `backend`, `ray_address` (the Ray cluster to sample on; samples do not depend on it),
        `device` and `workers` are the caller's, else the defaults; the run's recorded worker count is
        kept when it is at most this machine's default (so the run continues with the same samples),
        and one line names what the file said otherwise. `dataset`: the run's dataset (default: the
        path the checkpoint recorded, if the file there is still the one the run learned from, by
        sha256). `clip`: the imitation clip, a name or the user's copy of the run's clip file.
        `changes`: config values to change from here on (step sizes, update counts, exploration, gamma;
        config.RESUME_CHANGEABLE; buffer_size too from a checkpoint without a buffer); each change is printed in one line and kept in the run's config.
        """
        import sys

        from awr_mimic.learning.untrusted import RUN_FIELDS, describe_dropped

        src = Path(run_dir)
        if src.is_dir():
            ckpt = src / "checkpoint.pt"
            target = Path(out) if out is not None else src
        elif src.is_file():
            ckpt = src
            if out is not None:
                target = Path(out)
            elif src.name == "checkpoint.pt":
                target = src.parent
            else:
                raise ConfigError(f"--resume {src} is a checkpoint file: say where the run continues with --out DIR")
        else:
            raise ConfigError(f"nothing to resume at {src}: give a run directory or a checkpoint file")
        state = load_checkpoint(ckpt, clip=clip)
        if state["kind"] == "controller":
            raise ConfigError(f"{ckpt} is a controller (the policy only); resume needs a run checkpoint or a slim "
                              "one (awr-mimic slim RUN --out FILE)")
        same_dir = target.resolve() == ckpt.parent.resolve()
        if not same_dir and (target / "checkpoint.pt").exists():
            raise ConfigError(f"{target} already holds a run; resume it with --resume {target} or pick another --out")
        cfg, dropped = state.config, state.dropped  # where/how to run: at the defaults
        if changes:
            cfg, said = config_mod.resume_changes(cfg, changes, has_buffer=state.get("buffer") is not None)
            for line in said:
                print(f"resume: {line}", file=sys.stderr, flush=True)
        run: dict[str, Any] = {}
        if backend is not None:
            run["backend"] = backend
        if ray_address is not None:
            run["ray_address"] = ray_address
        if device is not None:
            run["device"] = device
        recorded = (state.get("config") or {}).get("workers")
        recorded = recorded if type(recorded) is int and recorded >= 0 else None
        cores = os.cpu_count() or 1
        made_with = cores if recorded is None else recorded
        if workers is not None:
            if workers != made_with and made_with <= cores and state.get("buffer") is not None:
                raise ConfigError(f"run was made with {made_with} workers; resuming with {workers} "
                                  "would change its samples (same seed + worker count = same run)")
            run["workers"] = workers
        elif recorded is not None and recorded <= cores:
            run["workers"] = recorded  # the same samples, and never more processes than the default starts
        if run:
            cfg = cfg.replace(**run)
        line = describe_dropped(dropped, {k: getattr(cfg, k) for k in RUN_FIELDS})
        if line:
            print(line, file=sys.stderr, flush=True)
        changed = physics_changes(state.get("physics_revision")) if state.env_spec.is_mimic else None
        if changed:
            print(f"resume: {ckpt} was trained with older physics ({changed}); the run trains on in today's",
                  file=sys.stderr, flush=True)
        if not same_dir and state.get("buffer") is not None:
            cls._copy_chunks(state, ckpt.parent / "buffer", target / "buffer")
        ds = dataset or cls._stored_dataset(state, ckpt)
        return cls("awr", state.env_spec, config=cfg, dataset=ds,
                   offline=bool(state.get("offline", False)), run_dir=target, progress=progress, _state=state)

    @staticmethod
    def _stored_dataset(state: dict, ckpt: Path) -> str | None:
        """The dataset path a checkpoint recorded, used only when the file there is still the dataset the
        run learned from (its recorded sha256): a checkpoint cannot choose which files we read."""
        path = state.get("dataset")
        if path is None:
            return None
        from awr_mimic.paths import file_sha256

        sha = state.get("dataset_sha256")
        p = Path(path)
        if isinstance(sha, str) and p.suffix == ".npz" and p.is_file() and file_sha256(p) == sha:
            return str(p)
        tag = f" (sha256 {sha[:12]})" if isinstance(sha, str) else ""
        raise ConfigError(f"{ckpt}: the run learned from dataset {p.name!r}{tag}, which a checkpoint cannot "
                          "choose to read: pass it with --dataset FILE")

    @staticmethod
    def _copy_chunks(state: dict, src: Path, dst: Path) -> None:
        """Resuming into another directory: it gets its own copy of the chunks the buffer refers to."""
        import shutil

        its = sorted({int(t) >> PathBuffer.TAG_SHIFT for t in PathBuffer.table(state["buffer"])["tags"]})
        dst.mkdir(parents=True, exist_ok=True)
        for it in its:
            c = src / f"chunk-{it:07d}.npz"
            if it != DATASET_TAG and c.exists() and not (dst / c.name).exists():
                shutil.copy2(c, dst / c.name)

    def train(self, total_timesteps: int | None = None, iterations: int | None = None,
              max_seconds: float | None = None) -> dict:
        """Train until `total_timesteps` samples, `iterations` more iterations or `max_seconds` of
        wall-clock in this call, whichever comes first; then checkpoint (with a run_dir) and evaluate.

        The time budget counts from this call (a resumed run gets a fresh one) and is checked between
        iterations, so the last iteration may overrun it by up to one iteration (and the final
        evaluation comes on top). Without `total_timesteps` the sample total is unbounded.

        Returns the final deterministic evaluation (``mean_reward``, ``std_reward``,
        ``normalized_return``, ...) plus ``samples``, ``iterations``, ``samples_per_s`` and
        ``stopped_by`` ("samples", "iterations" or "time").
        """
        if total_timesteps is None and iterations is None and max_seconds is None:
            raise ConfigError("train() needs total_timesteps, iterations or max_seconds")
        if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds >= 0):
            raise ConfigError(f"max_seconds must be a finite number >= 0, got {max_seconds}")
        deadline = time.monotonic() + max_seconds if max_seconds is not None else None
        stop_iter = self.iteration + iterations if iterations is not None else None
        bar = self._bar(total_timesteps)
        stopped_by = None
        try:
            while True:
                if stop_iter is not None and self.iteration >= stop_iter:
                    stopped_by = "iterations"
                elif total_timesteps is not None and self.samples >= total_timesteps:
                    stopped_by = "samples"
                elif deadline is not None and time.monotonic() >= deadline:
                    stopped_by = "time"
                if stopped_by is not None:
                    break
                row = self._iterate()
                if bar is not None:
                    bar.set_postfix_str(self._postfix(row), refresh=False)
                    step = row["new_samples"]
                    if bar.total is not None:  # whole paths overshoot the total; keep the bar at 100 %
                        step = max(0, min(step, bar.total - bar.n))
                    bar.update(step)
        finally:
            if bar is not None:
                bar.close()
        if self.run_dir is not None:
            self.save()
        result = self.evaluate(FINAL_EVAL_EPISODES)
        result.update(samples=self.samples, iterations=self.iteration,
                      samples_per_s=self.samples / max(self.elapsed, 1e-9),
                      run_dir=str(self.run_dir) if self.run_dir else None, stopped_by=stopped_by)
        return result

    def evaluate(self, episodes: int = 10) -> dict:
        """Deterministic episodes (mean action); episode k always starts from the same seed."""
        batch = self._eval_sampler().evaluate(episodes)
        s = batch.stats()
        out = {"mean_reward": s["mean_return"], "std_reward": s["std_return"],
               "mean_length": s["mean_length"], "normalized_return": s["normalized_return"],
               "episodes": episodes, "failure_rate": s["failure_rate"]}
        out.update({k: v for k, v in s.items() if k not in ("mean_return", "std_return", "mean_length",
                                                              "normalized_return", "episodes", "failure_rate")})
        return out

    def close(self) -> None:
        for s in (self.sampler, self._eval_rollout):
            if s is not None:
                if s._pending is not None and hasattr(s, "_conns"):
                    try:
                        s.wait()  # drain the in-flight batch so the workers exit cleanly
                    except Exception:  # noqa: BLE001
                        pass
                s.close()
        self.sampler = self._eval_rollout = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # -- one iteration --------------------------------------------------------
    def _iterate(self) -> dict:
        cfg, algo = self.cfg, self.algo
        t0 = time.perf_counter()
        self.iteration += 1
        if self.offline:
            batch, new, cap = None, cfg.samples_per_iter, None
        else:
            if cfg.overlap:
                if self.sampler._pending is None:  # first iteration (or after resume)
                    self._start_request(self._inflight_weights or algo.policy_weights(), self.samples)
                batch = self.sampler.wait()
                cap, std = self._inflight_cap, self._inflight_std
                # collect the next batch with the current policy while we learn from this one; its time
                # cap counts this batch, so a resumed run (whose samples include it) re-issues the same
                self._start_request(algo.policy_weights(), self.samples + batch.num_samples)
            else:
                self.sampler.set_weights(algo.policy_weights())
                cap, std = self.train_time_cap(self.samples), self.action_std(self.samples)
                batch = self.sampler.sample(cfg.samples_per_iter, max_episode_seconds=cap, action_std=std,
                                            adaptive_rsi=cfg.adaptive_rsi)
            new = batch.num_samples
            algo.actor.action_std = std  # the likelihood the actor fits is that of the noise it sampled with
            if self.run_dir is not None:
                self._write_chunk(batch)
            algo.add_batch(batch, tag=self.iteration)
            self.episodes += batch.num_paths
        t1 = time.perf_counter()
        stats = algo.update(new)
        t2 = time.perf_counter()
        self.samples += new

        ev = {}
        if cfg.eval_every and self.iteration % cfg.eval_every == 0:
            ev = self.evaluate(cfg.eval_episodes)
            self.last_eval = ev
        t3 = time.perf_counter()
        dt = t3 - t0
        self.elapsed += dt
        row: dict[str, Any] = {"iteration": self.iteration, "samples": self.samples, "time_s": self.elapsed,
                               "samples_per_s": new / dt, "new_samples": new,
                               "sample_time_s": t1 - t0, "update_time_s": t2 - t1,
                               # the learner's share of the iteration, evaluation left out
                               "update_share": (t2 - t1) / max(t2 - t0, 1e-9), "eval_time_s": t3 - t2}
        if cap is not None:
            row["train_time_cap_s"] = cap
        if not self.offline and cfg.action_std_end is not None:
            row["action_std"] = std
        if self.sampler is not None and hasattr(self.sampler, "lost_samples"):  # ray backend: dead actors
            row.update(lost_samples=self.sampler.lost_samples, actor_restarts=self.sampler.actor_restarts)
        if batch is not None and batch.num_paths:
            s = batch.stats()
            row.update(mean_return=s["mean_return"], normalized_return=s["normalized_return"],
                       mean_length=s["mean_length"], episodes=s["episodes"])
        row.update({k: stats[k] for k in ("critic_loss", "actor_loss", "adv_mean", "adv_std", "weight_mean",
                                           "weight_clipped", "value_mean", "buffer_samples") if k in stats})
        if ev:
            row.update(eval_mean_return=ev["mean_reward"], eval_normalized_return=ev["normalized_return"],
                       eval_mean_length=ev["mean_length"])
        self._row = row
        if self.run_dir is not None:
            self._log(row, stats, ev)
            if ev:
                self._maybe_save_best(ev)
            if self.iteration % cfg.checkpoint_every == 0:
                self.save()
        return row

    def _start_request(self, weights, samples: int) -> None:
        """Start collecting a batch with `weights`; its training episodes are capped as after `samples`."""
        self._inflight_weights = weights
        self._inflight_cap, self._inflight_std = self.train_time_cap(samples), self.action_std(samples)
        self.sampler.set_weights(weights)
        self.sampler.start(self.cfg.samples_per_iter, max_episode_seconds=self._inflight_cap,
                           action_std=self._inflight_std, adaptive_rsi=self.cfg.adaptive_rsi)

    def train_time_cap(self, samples: int | None = None) -> float | None:
        """The horizon curriculum's cap (seconds) on training episodes after `samples` (default: now).

        None when it is off (horizon_curriculum_samples = 0) or the env has no time limit. It depends on
        the sample count only, so a resumed run continues the same schedule.
        """
        cfg = self.cfg
        end = getattr(self.sampler, "time_limit", None)
        if cfg.horizon_curriculum_samples <= 0 or end is None:
            return None
        return horizon_cap(self.samples if samples is None else samples, cfg.horizon_curriculum_samples,
                           cfg.horizon_start_s, end, cfg.horizon_power)

    def action_std(self, samples: int | None = None) -> float:
        """The exploration std of training actions after `samples` (default: now); a function of the
        sample count only, so a resumed run continues the same schedule."""
        cfg = self.cfg
        return exploration_std(self.samples if samples is None else samples, cfg.action_std, cfg.action_std_end,
                               cfg.action_std_anneal_samples, cfg.action_std_anneal_start)

    # -- progress -------------------------------------------------------------
    def _bar(self, total):
        if not self.progress:
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=min(self.samples, total or self.samples), unit="smp", dynamic_ncols=True,
                    desc=f"awr {self.env_spec.id}", smoothing=0.1)

    @staticmethod
    def _postfix(row) -> str:
        parts = [f"{row['samples_per_s']:.0f} smp/s"]
        if "mean_return" in row:
            parts.append(f"ret {row['mean_return']:.3g}")
        if "normalized_return" in row and not math.isnan(row["normalized_return"]):
            parts.append(f"norm {row['normalized_return']:.3f}")
        if "eval_mean_return" in row:
            parts.append(f"eval {row['eval_mean_return']:.3g}")
        return ", ".join(parts)

    # -- run directory --------------------------------------------------------
    def _open_run_dir(self, resumed: bool) -> None:
        d = self.run_dir
        (d / "buffer").mkdir(parents=True, exist_ok=True)
        config_mod.save(self.cfg, d / "config.yaml")
        csv_path = d / "progress.csv"
        if resumed and csv_path.exists():
            # drop rows the killed run wrote after its last checkpoint
            with open(csv_path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["iteration"]) <= self.iteration]
            with open(csv_path, "w", newline="") as f:
                w = csv.DictWriter(f, CSV_COLUMNS)
                w.writeheader()
                w.writerows(rows)
            for c in (d / "buffer").glob("chunk-*.npz"):  # chunks of uncommitted iterations
                if int(c.stem.split("-")[1]) > self.iteration:
                    c.unlink()
        elif not csv_path.exists() or not resumed:
            with open(csv_path, "w", newline="") as f:
                csv.DictWriter(f, CSV_COLUMNS).writeheader()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(d / "tb"), purge_step=self.iteration + 1 if resumed else None)
        except ImportError:  # tensorboard is a dependency, but do not die for logs
            self._writer = None

    def _log(self, row, stats, ev) -> None:
        with open(self.run_dir / "progress.csv", "a", newline="") as f:
            csv.DictWriter(f, CSV_COLUMNS, extrasaction="ignore").writerow(row)
        if self._writer is not None:
            step = self.iteration
            for k, v in row.items():
                if k != "iteration" and isinstance(v, (int, float)) and math.isfinite(v):
                    self._writer.add_scalar(f"train/{k}", v, step)
            for k, v in stats.items():
                self._writer.add_scalar(f"learner/{k}", v, step)
            for k, v in ev.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self._writer.add_scalar(f"eval/{k}", v, step)
            self._writer.flush()

    def _chunk_path(self, it: int) -> Path:
        return self.run_dir / "buffer" / f"chunk-{it:07d}.npz"

    def _write_chunk(self, batch) -> None:
        save_npz(self._chunk_path(self.iteration), {"obs": batch.obs, "actions": batch.actions,
                                                     "rewards": batch.rewards, "lengths": batch.lengths,
                                                     "final_obs": batch.final_obs})

    def _score(self, ev) -> float:
        # imitation: normalised return; gym envs have no horizon, so mean return
        n = ev.get("normalized_return", math.nan)
        return n if not math.isnan(n) else ev["mean_reward"]

    def _maybe_save_best(self, ev) -> None:
        score = self._score(ev)
        if score > self.best_score:
            self.best_score = score
            save_checkpoint(self.run_dir / "best.pt", self._state(with_buffer=False))

    def _state(self, with_buffer: bool = True) -> dict:
        """Checkpoint content; save_checkpoint stores it as plain values (numpy -> tensors, tuples -> lists)."""
        inflight = self._inflight_weights if self.cfg.overlap else None
        return {
            "kind": "run" if with_buffer else "slim",
            "algo": "awr",
            "physics_revision": PHYSICS_REVISION,  # the worlds this policy trained in (physics_revision.py)
            "config": self.cfg.to_dict(),
            "env_spec": self.env_spec.stored().to_dict(),  # the clip by name, never a file path
            "space": dataclasses.asdict(self.space),
            "learner": self.algo.state_dict(),
            "buffer": self.algo.buffer.state_dict() if with_buffer else None,
            "counters": {"iteration": self.iteration, "samples": self.samples, "episodes": self.episodes,
                         "elapsed": self.elapsed, "best_score": self.best_score},
            "rng": rng_states(),
            "sampler": {**(self.sampler.state_dict() if self.sampler else {}),
                        "inflight_weights": ({k: torch.from_numpy(np.array(v)) for k, v in inflight.items()}
                                             if inflight is not None else None)},
            "dataset": self.dataset_path,
            "dataset_sha256": self.dataset_sha256,
            "offline": self.offline,
            "last_eval": self.last_eval,
        }

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write a checkpoint (default: run_dir/checkpoint.pt), then drop buffer chunks no longer needed."""
        if path is None:
            if self.run_dir is None:
                raise ConfigError("save() needs a path when the trainer has no run_dir")
            path = self.run_dir / "checkpoint.pt"
        path = Path(path)
        state = self._state()
        if self.cfg.overlap and self.sampler is not None and self.sampler._pending is not None:
            # the request in flight was numbered calls - 1; resume re-issues it with the same weights
            state["sampler"]["calls"] = self.sampler.calls - 1
        save_checkpoint(path, state)
        if self.run_dir is not None and path.parent == self.run_dir:
            tags = self.algo.buffer.index()["tags"] >> PathBuffer.TAG_SHIFT
            keep = set(int(t) for t in np.unique(tags))
            for c in (self.run_dir / "buffer").glob("chunk-*.npz"):
                it = int(c.stem.split("-")[1])
                if it <= self.iteration and it not in keep:
                    c.unlink()
        return path

    def _restore(self, state: dict) -> None:
        try:
            self._restore_state(state)
        except AwrMimicError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise AwrMimicError(f"{state.get('path', 'checkpoint')}: cannot resume from it, damaged or not "
                                f"from this awr-mimic ({type(exc).__name__}: {first})") from exc

    def _restore_state(self, state: dict) -> None:
        self.algo.load_state_dict(state["learner"])
        self.algo.set_learning_rates(self.cfg.actor_lr, self.cfg.critic_lr)  # a resume may change them
        self.algo._sync_obs_norm()
        c = state["counters"]
        self.iteration, self.samples, self.episodes = int(c["iteration"]), int(c["samples"]), int(c["episodes"])
        self.elapsed, self.best_score = float(c["elapsed"]), float(c["best_score"])
        self.last_eval = dict(state.get("last_eval") or {})
        set_rng_states(state["rng"])
        if self.sampler is not None and state.get("sampler"):
            self.sampler.load_state_dict(state["sampler"])
            w = state["sampler"].get("inflight_weights")
            self._inflight_weights = {k: as_numpy(v) for k, v in w.items()} if w is not None else None
        where = state.get("path", "the checkpoint")
        bstate = state.get("buffer")
        if bstate is not None:
            missing = self._missing_chunks(bstate)
            if not missing:
                self._restore_buffer(bstate)
                return
            shown = ", ".join(p.name for p in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            why = f"buffer chunks missing in {missing[0].parent} ({shown})"
        else:
            why = f"no replay buffer in {where}"
        self._empty_buffer(why)

    def _missing_chunks(self, bstate: dict) -> list[Path]:
        its = {int(t) >> PathBuffer.TAG_SHIFT for t in PathBuffer.table(bstate)["tags"]}
        if self.run_dir is None:
            return [Path(f"chunk-{it:07d}.npz") for it in sorted(its) if it != DATASET_TAG]
        return [self._chunk_path(it) for it in sorted(its) if it != DATASET_TAG and not self._chunk_path(it).exists()]

    def _empty_buffer(self, why: str) -> None:
        """Resume without the old buffer: it refills from new samples (a dataset's paths are put back)."""
        import sys

        buf = self.algo.buffer
        buf.clear()
        if self._data is not None:
            buf.add_batch(self._data, DATASET_TAG)  # not algo.add_batch: the normaliser is already restored
            self.algo._value_rows(buf.path_rows())
            if self.offline:
                return  # the dataset is the whole buffer: nothing to refill
        self.algo._new_rows = None
        wait = max(self.cfg.learning_starts, self.cfg.samples_per_iter)
        print(f"resume: {why}; refilling it from new samples (the first update waits for {wait} samples)",
              file=sys.stderr, flush=True)

    def _restore_buffer(self, bstate: dict) -> None:
        chunks: dict[int, dict] = {}
        shift = PathBuffer.TAG_SHIFT

        def path_of_tag(tag: int):
            it, i = tag >> shift, tag & ((1 << shift) - 1)
            if it == DATASET_TAG:
                src = self._data
                offs = np.concatenate([[0], np.cumsum(src.lengths)])
                a, b = offs[i], offs[i + 1]
                return src.obs[a:b], src.actions[a:b], src.rewards[a:b], src.final_obs[i]
            if it not in chunks:
                p = self._chunk_path(it)
                if not p.exists():
                    raise AwrMimicError(f"resume: buffer chunk {p} is missing")
                with np.load(p) as z:
                    chunks[it] = {k: z[k] for k in z.files}
                    chunks[it]["offs"] = np.concatenate([[0], np.cumsum(chunks[it]["lengths"])])
            ch = chunks[it]
            a, b = ch["offs"][i], ch["offs"][i + 1]
            return ch["obs"][a:b], ch["actions"][a:b], ch["rewards"][a:b], ch["final_obs"][i]

        self.algo.buffer.load_state(bstate, path_of_tag)

