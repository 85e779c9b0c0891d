"""A worker's rollouts on a batch of imitation envs stepped together.

The K envs of a `MimicBatch` advance in lockstep: one batched policy forward
and one vectorised env pass per step, instead of K of each. Paths stay whole:
once the request's samples are covered (finished plus in-flight steps), no new
episodes start and the running ones finish. Everything random comes from
(seed, worker index, call number), so a run is reproducible for a given seed,
worker count and batch size.
"""
from __future__ import annotations

import math
import types

import numpy as np
import torch

from awr_mimic.envs.batch import MimicBatch
from awr_mimic.envs.reward import TERM_NAMES
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.learning.networks import Policy, SpaceInfo, load_policy_weights
from awr_mimic.sampling.base import PathBatch, phase_bin_key, phase_bins
from awr_mimic.sampling.rollout import _EVAL, _TRAIN, _empty, _to_batch, eval_start_phase, set_exploration_std
from awr_mimic.sampling.starts import StartPhases, check_adaptive_rsi

# MimicEnv options a batch does not take (rendering is per env)
_SINGLE_ENV_ONLY = ("render_mode", "render_size")


class BatchRollout:
    def __init__(self, env_spec: EnvSpec, policy_kwargs: dict | None, seed: int, index: int, num_envs: int = 8):
        kwargs = {k: v for k, v in env_spec.kwargs.items() if k not in _SINGLE_ENV_ONLY}
        self.batch = MimicBatch(num_envs, **kwargs)
        b = self.batch
        observation_space, action_space = b.spaces()
        self.space = SpaceInfo.from_env(types.SimpleNamespace(observation_space=observation_space,
                                                              action_space=action_space))
        self.seed, self.index = int(seed), int(index)
        self.policy = Policy(self.space, **policy_kwargs) if policy_kwargs is not None else None
        self.horizon = b.horizon_steps
        self.time_limit = b.time_limit
        self.starts = StartPhases()  # training start phases, and where recent ones fell
        self._clip_steps = max(1, math.ceil(b.clip.duration * b.control_hz))

    def set_weights(self, weights) -> None:
        load_policy_weights(self.policy, weights)

    def _actions(self, obs: np.ndarray, rng, mode: str) -> np.ndarray:
        """Normalised actions (n, A) for observations (n, O)."""
        if mode == "random":
            return rng.uniform(-1.0, 1.0, (len(obs), self.space.act_dim)).astype(np.float32)
        with torch.no_grad():
            mean = self.policy(torch.as_tensor(obs, dtype=torch.float32)).numpy().astype(np.float64)
        if mode == "eval":
            return mean.astype(np.float32)
        return (mean + self.policy.action_std * rng.standard_normal(mean.shape)).astype(np.float32)

    def _collect(self, rng, mode: str, starts: list[float], min_samples: int | None, out: dict,
                 adaptive_rsi: float = 0.0) -> None:
        """Run episodes from the given start phases (more, while min_samples is not covered, from
        phases drawn by `self.starts`)."""
        b, K = self.batch, self.batch.num_envs
        pending = list(starts)
        steps = {i: [] for i in range(K)}  # per env: (obs, action, reward) of the running episode
        obs = np.zeros((K, b.observation_size), np.float32)
        active = np.zeros(K, dtype=bool)
        start_phase = np.zeros(K)
        collected = 0

        fixed = b.start_phase  # the env option start_phase: every episode starts there, not at RSI
        learn_starts = fixed is None and min_samples is not None  # training episodes from RSI

        def start(envs):
            phases = [pending.pop(0) if pending else self.starts.draw(rng, adaptive_rsi) for _ in envs]
            if fixed is not None:
                phases = [fixed] * len(envs)
            start_phase[envs] = phases
            obs[envs] = b.reset(np.asarray(envs), phases)
            active[envs] = True
            for i in envs:
                steps[i] = []

        def restartable(envs: list) -> list:
            if min_samples is None:  # a fixed list of episodes
                return envs[: len(pending)]
            in_flight = sum(len(steps[i]) for i in np.flatnonzero(active))
            return envs if collected + in_flight < min_samples else []

        start(list(range(K)) if min_samples is not None else list(range(min(K, len(pending)))))
        while active.any():
            envs = np.flatnonzero(active)
            actions = self._actions(obs[envs], rng, mode)
            nxt, rewards, terminated, truncated, info = b.step(self.space.to_env_action(actions), envs)
            if mode == "eval":
                _accumulate(info, rewards, out)
            ended = []
            for row, i in enumerate(envs.tolist()):
                steps[i].append((obs[i].copy(), actions[row], float(rewards[row])))
                if terminated[row] or truncated[row]:
                    self._finish(steps[i], nxt[row], bool(terminated[row]), bool(truncated[row]), out)
                    if learn_starts:
                        self.starts.record(start_phase[i], len(steps[i]), bool(terminated[row]), self._clip_steps)
                    collected += len(steps[i])
                    active[i] = False
                    ended.append(i)
            obs[envs] = nxt
            restart = restartable(ended)
            if restart:
                start(restart)

    def _finish(self, episode, final_obs, terminated, truncated, out) -> None:
        obs, actions, rewards = zip(*episode)
        out["obs"].append(np.stack(obs))
        out["actions"].append(np.stack(actions))
        out["rewards"].append(np.asarray(rewards, np.float32))
        out["lengths"].append(len(rewards))
        out["terminated"].append(terminated)
        out["truncated"].append(truncated and not terminated)
        out["final_obs"].append(np.asarray(final_obs, np.float32))
        ret = float(np.sum(rewards))
        out["returns"].append(ret)
        out["normalized_returns"].append(ret / self.horizon if self.horizon else math.nan)

    def run(self, min_samples: int, call: int, mode: str = "policy",
            max_episode_seconds: float | None = None, action_std: float | None = None,
            adaptive_rsi: float = 0.0) -> PathBatch:
        """Whole episodes until at least `min_samples` steps, each capped at `max_episode_seconds`,
        with exploration std `action_std` (None: the policy's), `adaptive_rsi` of them started where
        recent episodes fell (sampling/starts.py)."""
        rng = np.random.default_rng([self.seed, self.index, call, _TRAIN])
        set_exploration_std(self.policy, action_std)
        out = _empty()
        self.batch.training = True
        self.batch.set_training_time_cap(max_episode_seconds)
        self._collect(rng, mode, [], min_samples, out, check_adaptive_rsi(adaptive_rsi))
        return _to_batch(out, self.space)

    def run_episodes(self, episode_ids, mode: str = "eval") -> PathBatch:
        """Episode k starts at a phase that depends on (seed, k) only, not on the worker."""
        starts = [eval_start_phase(self.seed, k) for k in episode_ids]
        out = _empty()
        rng = np.random.default_rng([self.seed, self.index, _EVAL])
        self.batch.training = False  # evaluation keeps DeepMimic's termination (no drift termination)
        self.batch.set_training_time_cap(None)  # and the full time limit
        self._collect(rng, mode, starts, None, out)
        return _to_batch(out, self.space)

    def close(self) -> None:
        self.batch.close()


def _accumulate(info: dict, rewards: np.ndarray, out: dict) -> None:
    """Per-step sums of the reward terms and tracking errors (eval reports their means), overall
    and per clip-phase bin with the reward and the falls (`PathBatch.phase_profile`)."""
    sums, counts = out["info_sums"], out["info_counts"]

    def add(key, value, n):
        sums[key] = sums.get(key, 0.0) + value
        counts[key] = counts.get(key, 0) + n

    n = len(info["phase"])
    terms = info["reward_terms"]
    for name, value in zip(TERM_NAMES, terms.sum(axis=0).tolist()):
        add(f"reward_{name}", value, n)
    for key in ("joint_angle_error", "end_effector_error"):
        add(key, float(info[key].sum()), n)
    bins = phase_bins(info["phase"])
    columns = np.column_stack([rewards, terms]).tolist()
    for b, row, fell in zip(bins.tolist(), columns, info["fell"].tolist()):
        for name, value in zip(("reward",) + TERM_NAMES, row):
            add(phase_bin_key(b, name), value, 1)
        if fell:
            add(phase_bin_key(b, "falls"), 1, 1)
