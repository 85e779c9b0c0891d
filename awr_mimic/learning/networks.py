"""Policies and value function.

The policy acts in normalised action units: for a Box space with finite bounds
``env_action = centre + half_range * a``; it is a Gaussian with a fixed std (not
learned, so it cannot collapse). Discrete spaces get a categorical policy.
Both nets take raw observations and normalise them with shared buffers that the
learner's :class:`RunningNormalizer` writes into, so a state dict is all a
sampler worker needs.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn


@dataclasses.dataclass(frozen=True)
class SpaceInfo:
    """What the nets need to know about the env's spaces (picklable, stored in checkpoints)."""

    obs_dim: int
    discrete: bool
    act_dim: int  # Box: dimension; Discrete: number of actions
    low: tuple | None = None
    high: tuple | None = None

    @classmethod
    def from_env(cls, env) -> "SpaceInfo":
        import gymnasium.spaces as S

        from awr_mimic.errors import ConfigError

        if not isinstance(env.observation_space, S.Box) or len(env.observation_space.shape) != 1:
            raise ConfigError(f"AWR needs a flat Box observation space, got {env.observation_space}")
        obs_dim = int(env.observation_space.shape[0])
        a = env.action_space
        if isinstance(a, S.Discrete):
            return cls(obs_dim, True, int(a.n))
        if isinstance(a, S.Box) and len(a.shape) == 1:
            return cls(obs_dim, False, int(a.shape[0]), tuple(map(float, a.low)), tuple(map(float, a.high)))
        raise ConfigError(f"AWR supports Box or Discrete actions, got {a}")

    def to_env_action(self, a: np.ndarray):
        """Normalised policy action -> env action, clipped to the bounds."""
        if self.discrete:
            return int(a)
        low, high = np.asarray(self.low), np.asarray(self.high)
        finite = np.isfinite(low) & np.isfinite(high)
        centre = np.where(finite, (low + high) / 2, 0.0)
        half = np.where(finite, (high - low) / 2, 1.0)
        return np.clip(centre + half * a, low, high).astype(np.float32)

    def from_env_action(self, a: np.ndarray) -> np.ndarray:
        """Env action -> normalised units (for datasets recorded in env units)."""
        if self.discrete:
            return np.asarray(a, np.int64)
        low, high = np.asarray(self.low), np.asarray(self.high)
        finite = np.isfinite(low) & np.isfinite(high)
        centre = np.where(finite, (low + high) / 2, 0.0)
        half = np.where(finite, (high - low) / 2, 1.0)
        return ((np.asarray(a) - centre) / half).astype(np.float32)


class ObsNorm(nn.Module):
    """(obs - mean) / std, clipped to [-clip, clip] (0: no clip).

    The clip keeps a rare extreme state (a light link spinning at 300 rad/s) from reaching the
    nets as a huge input, whose wild V bootstraps and policy outputs once wrecked a dog run.
    """

    def __init__(self, dim: int, clip: float = 0.0):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.clip = float(clip)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        z = (obs - self.mean) / self.std
        return z.clamp(-self.clip, self.clip) if self.clip > 0 else z


def mlp(in_dim: int, hidden: tuple, out_dim: int, out_scale: float | None = None) -> nn.Sequential:
    layers, d = [], in_dim
    for h in hidden:
        lin = nn.Linear(d, h)
        nn.init.xavier_uniform_(lin.weight)  # TF's default (xbpeng/awr)
        nn.init.zeros_(lin.bias)
        layers += [lin, nn.ReLU()]
        d = h
    out = nn.Linear(d, out_dim)
    if out_scale is None:
        nn.init.xavier_uniform_(out.weight)
    else:  # small initial outputs: the first policy is close to mean 0
        nn.init.uniform_(out.weight, -out_scale, out_scale)
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers)


class Policy(nn.Module):
    def __init__(self, space: SpaceInfo, hidden: tuple, action_std: float, init_output_scale: float = 0.01,
                 obs_norm: ObsNorm | None = None, obs_clip: float = 0.0):
        super().__init__()
        self.space = space
        self.discrete = space.discrete
        self.action_std = float(action_std)
        self.obs_norm = obs_norm if obs_norm is not None else ObsNorm(space.obs_dim, obs_clip)
        self.net = mlp(space.obs_dim, tuple(hidden), space.act_dim, init_output_scale)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Gaussian mean (normalised units) or categorical logits."""
        return self.net(self.obs_norm(obs))

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.log_prob_from_output(self(obs), act)

    def log_prob_from_output(self, out: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        out = out.float()
        if self.discrete:
            return torch.log_softmax(out, -1).gather(-1, act.long().view(-1, 1)).squeeze(-1)
        z = (act - out) / self.action_std
        k = out.shape[-1]
        return -0.5 * (z * z).sum(-1) - k * (math.log(self.action_std) + 0.5 * math.log(2 * math.pi))

    def bound_loss(self, obs: torch.Tensor) -> torch.Tensor:
        """Squared excess of the mean outside [-1, 1] (summed over dims, mean over batch)."""
        return self.bound_loss_from_output(self(obs))

    def bound_loss_from_output(self, out: torch.Tensor) -> torch.Tensor:
        if self.discrete:
            return torch.zeros((), device=out.device)
        mean = out.float()
        excess = torch.relu(mean - 1.0) + torch.relu(-1.0 - mean)
        return (excess * excess).sum(-1).mean()

    @torch.no_grad()
    def act(self, obs: np.ndarray, rng: np.random.Generator | None, deterministic: bool = False) -> np.ndarray:
        """One observation -> one normalised action; noise from `rng` (numpy) for reproducibility."""
        out = self(torch.as_tensor(obs, dtype=torch.float32).view(1, -1))[0].numpy().astype(np.float64)
        if self.discrete:
            if deterministic:
                return np.int64(np.argmax(out))
            p = np.exp(out - out.max())
            p /= p.sum()
            return np.int64(min(np.searchsorted(np.cumsum(p), rng.random()), len(p) - 1))
        if deterministic:
            return out.astype(np.float32)
        return (out + self.action_std * rng.standard_normal(out.shape)).astype(np.float32)


class ValueNet(nn.Module):
    """V(s) = (1 / (1 - gamma)) * net(s): the net regresses (1 - gamma)-scaled targets."""

    def __init__(self, space: SpaceInfo, hidden: tuple, gamma: float, obs_norm: ObsNorm | None = None):
        super().__init__()
        self.obs_norm = obs_norm if obs_norm is not None else ObsNorm(space.obs_dim)
        self.net = mlp(space.obs_dim, tuple(hidden), 1)
        self.scale = 1.0 / (1.0 - gamma)

    def forward_scaled(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.obs_norm(obs)).squeeze(-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.forward_scaled(obs) * self.scale


def policy_weights(policy: Policy) -> dict[str, np.ndarray]:
    """State dict as numpy arrays: what a sampler worker receives each iteration."""
    return {k: v.detach().cpu().numpy().copy() for k, v in policy.state_dict().items()}


def load_policy_weights(policy: Policy, weights: dict[str, np.ndarray]) -> None:
    policy.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
