"""What a sampler worker does: run whole episodes in its env with the policy.

Kept free of process plumbing so the in-process backend, the local process
backend and (later) Ray actors share it.
"""
from __future__ import annotations

import math

import numpy as np

from awr_mimic.errors import ConfigError, show
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.learning.networks import Policy, SpaceInfo, load_policy_weights
from awr_mimic.sampling.base import PathBatch, phase_bin_key, phase_bins
from awr_mimic.sampling.starts import StartPhases, check_adaptive_rsi

_TRAIN, _EVAL = 0, 1  # seed streams
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def eval_start_phase(seed: int, episode: int) -> float:
    """Clip phase where evaluation episode `episode` starts (imitation envs).

    A golden-ratio (Weyl) sequence from an offset drawn from `seed`: any n episodes spread
    evenly over the clip, at most about 2/n apart, where independent uniform phases can pile
    up or miss a hard stretch (the best checkpoint is chosen on these episodes)."""
    offset = float(np.random.default_rng([int(seed), _EVAL]).uniform())
    return (offset + int(episode) * _GOLDEN) % 1.0


def make_rollout(env_spec: EnvSpec, policy_kwargs: dict, seed: int, index: int, envs_per_worker: int = 1):
    """A worker's rollout: imitation envs batched `envs_per_worker` at a time, any other env alone."""
    if envs_per_worker > 1 and env_spec.is_mimic:
        from awr_mimic.sampling.batch_rollout import BatchRollout

        return BatchRollout(env_spec, policy_kwargs, seed, index, envs_per_worker)
    return Rollout(env_spec, policy_kwargs, seed, index)


class Rollout:
    def __init__(self, env_spec: EnvSpec, policy_kwargs: dict, seed: int, index: int):
        self.env = env_spec.make()
        self.space = SpaceInfo.from_env(self.env)
        self.seed, self.index = int(seed), int(index)
        self.policy = Policy(self.space, **policy_kwargs) if policy_kwargs is not None else None
        h = getattr(self.env.unwrapped, "horizon_steps", None)
        self.horizon = int(h) if h else None
        # an env with a time limit in seconds and a control rate (the imitation env) takes max_episode_seconds
        limit, hz = getattr(self.env.unwrapped, "time_limit", None), getattr(self.env.unwrapped, "control_hz", None)
        self.time_limit = float(limit) if limit and hz else None
        self._control_hz = hz
        env = self.env.unwrapped
        self._rsi = hasattr(env, "clip") and getattr(env, "start_phase", 0.0) is None  # imitation from RSI
        self.starts = StartPhases()
        self._clip_steps = max(1, math.ceil(env.clip.duration * hz)) if self._rsi else 0

    def set_weights(self, weights) -> None:
        load_policy_weights(self.policy, weights)

    def _action(self, obs, rng, mode):
        if mode == "random":
            if self.space.discrete:
                return np.int64(rng.integers(self.space.act_dim))
            finite = np.isfinite(self.space.low) & np.isfinite(self.space.high)
            u = rng.uniform(-1.0, 1.0, self.space.act_dim)
            return np.where(finite, u, rng.standard_normal(self.space.act_dim)).astype(np.float32)
        return self.policy.act(obs, rng, deterministic=(mode == "eval"))

    def _episode(self, rng, reset_seed, mode, out, max_steps=None, options=None):
        obs, _ = self.env.reset(seed=reset_seed, options=options)
        obs_l, act_l, rew_l = [], [], []
        while True:
            a = self._action(obs, rng, mode)
            nxt, r, term, trunc, info = self.env.step(self.space.to_env_action(a))
            obs_l.append(np.asarray(obs, np.float32))
            act_l.append(a)
            rew_l.append(float(r))
            if mode == "eval":
                _accumulate_info(info, float(r), out["info_sums"], out["info_counts"])
            obs = nxt
            if max_steps is not None and len(rew_l) >= max_steps:
                trunc = True  # the horizon curriculum's cap: bootstrapped like the time limit
            if term or trunc:
                break
        out["obs"].append(np.stack(obs_l))
        out["actions"].append(np.stack(act_l))
        out["rewards"].append(np.asarray(rew_l, np.float32))
        out["lengths"].append(len(rew_l))
        out["terminated"].append(bool(term))
        out["truncated"].append(bool(trunc and not term))
        out["final_obs"].append(np.asarray(obs, np.float32))
        ret = float(np.sum(rew_l))
        out["returns"].append(ret)
        out["normalized_returns"].append(ret / self.horizon if self.horizon else math.nan)

    def _set_training(self, training: bool) -> None:
        if hasattr(self.env.unwrapped, "training"):  # imitation: evaluation keeps DeepMimic's termination
            self.env.unwrapped.training = training

    def run(self, min_samples: int, call: int, mode: str = "policy",
            max_episode_seconds: float | None = None, action_std: float | None = None,
            adaptive_rsi: float = 0.0) -> PathBatch:
        """Whole episodes until at least `min_samples` steps, each capped at `max_episode_seconds`
        (ignored for envs without a time limit and control rate), with exploration std `action_std`
        (None: the policy's); imitating, `adaptive_rsi` of them start where recent episodes fell
        (sampling/starts.py)."""
        adaptive = check_adaptive_rsi(adaptive_rsi) > 0.0 and self._rsi
        rng = np.random.default_rng([self.seed, self.index, call, _TRAIN])
        set_exploration_std(self.policy, action_std)
        self._set_training(True)
        cap = cap_steps(max_episode_seconds, self._control_hz) if self.time_limit is not None else None
        out = _empty()
        n, first = 0, True
        while n < min_samples:
            # the first reset of a call is seeded; later ones continue the env's own RNG
            reset_seed = int(rng.integers(2**31 - 1)) if first else None
            first = False
            options = {"phase": self.starts.draw(rng, adaptive_rsi)} if adaptive else None
            self._episode(rng, reset_seed, mode, out, cap, options)
            n += out["lengths"][-1]
            if adaptive:
                self.starts.record(options["phase"], out["lengths"][-1], out["terminated"][-1], self._clip_steps)
        return _to_batch(out, self.space)

    def run_episodes(self, episode_ids, mode: str = "eval") -> PathBatch:
        """Episode k starts from a seed (and, imitating, a phase) that depends on (seed, k) only,
        not on the worker."""
        self._set_training(False)
        spread = self._rsi  # imitation from RSI: evaluation starts spread over the clip
        out = _empty()
        for k in episode_ids:
            rng = np.random.default_rng([self.seed, int(k), _EVAL])
            options = {"phase": eval_start_phase(self.seed, k)} if spread else None
            self._episode(rng, int(rng.integers(2**31 - 1)), mode, out, options=options)
        return _to_batch(out, self.space)

    def close(self) -> None:
        self.env.close()


def set_exploration_std(policy, action_std: float | None) -> None:
    if action_std is None or policy is None:
        return
    if not (isinstance(action_std, (int, float)) and math.isfinite(action_std) and action_std > 0):
        raise ConfigError(f"action_std must be a positive number, got {show(action_std)}")
    policy.action_std = float(action_std)


def cap_steps(seconds: float | None, control_hz: float) -> int | None:
    """Control steps of a training episode capped at `seconds`: ceil(seconds * control_hz), at least 1."""
    if seconds is None:
        return None
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        seconds = math.nan
    if not seconds > 0 or math.isnan(seconds):
        raise ConfigError(f"max_episode_seconds must be a positive number of seconds or None, got {show(seconds)}")
    if math.isinf(seconds):
        return None
    return max(1, int(math.ceil(seconds * control_hz - 1e-9)))


def _accumulate_info(info, reward, sums, counts):
    """Per-step sums of the reward terms and tracking errors; for imitation envs (an info with a
    clip phase) also per clip-phase bin, with the reward and the falls (`PathBatch.phase_profile`)."""
    def add(k, v):
        try:
            v = float(v)
        except (TypeError, ValueError):
            return
        sums[k] = sums.get(k, 0.0) + v
        counts[k] = counts.get(k, 0) + 1

    terms = info.get("reward_terms")
    if isinstance(terms, dict):
        for k, v in terms.items():
            add(f"reward_{k}", v)
    for k in ("joint_angle_error", "end_effector_error"):
        if k in info:
            add(k, info[k])
    if isinstance(terms, dict) and "phase" in info:
        b = int(phase_bins(info["phase"]))
        add(phase_bin_key(b, "reward"), reward)
        for k, v in terms.items():
            add(phase_bin_key(b, k), v)
        if info.get("fell"):
            add(phase_bin_key(b, "falls"), 1)


def _empty():
    keys = ("obs", "actions", "rewards", "lengths", "terminated", "truncated", "final_obs", "returns",
            "normalized_returns")
    out = {k: [] for k in keys}
    out["info_sums"], out["info_counts"] = {}, {}
    return out


def _to_batch(out, space: SpaceInfo) -> PathBatch:
    if not out["lengths"]:
        act_shape = (0,) if space.discrete else (0, space.act_dim)
        return PathBatch(np.zeros((0, space.obs_dim), np.float32),
                         np.zeros(act_shape, np.int64 if space.discrete else np.float32),
                         np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, bool),
                         np.zeros((0, space.obs_dim), np.float32), np.zeros(0), np.zeros(0))
    return PathBatch(
        obs=np.concatenate(out["obs"]),
        actions=np.concatenate(out["actions"]),
        rewards=np.concatenate(out["rewards"]),
        lengths=np.asarray(out["lengths"], np.int64),
        terminated=np.asarray(out["terminated"], bool),
        truncated=np.asarray(out["truncated"], bool),
        final_obs=np.stack(out["final_obs"]),
        returns=np.asarray(out["returns"], np.float64),
        normalized_returns=np.asarray(out["normalized_returns"], np.float64),
        info_sums=out["info_sums"],
        info_counts=out["info_counts"],
    )
