"""Advantage-Weighted Regression (Peng et al. 2019, Algorithm 1).

One :meth:`AWR.update` after each batch of new paths:

1. V(s) for the buffer with the current critic, TD(lambda) returns R.
2. Critic: minimise 0.5 * ((1 - gamma) * R - V_scaled(s))^2 on minibatches.
3. V(s) again with the updated critic, returns again.
4. A = R - V(s), normalised over the buffer: A <- (A - mean) / (std + eps).
5. w = min(exp(A / beta), omega_max).
6. Actor: minimise -w * log pi(a|s) + 10 * |mean outside [-1, 1]|^2 on minibatches.

V is cached per buffer row. With ``value_refresh_fraction = 1`` both value
passes cover the whole buffer as in the paper; with a fraction f < 1, new rows
are always evaluated and a rotating f-share of the older rows is refreshed per
pass (see docs/learning.md for why).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from awr_mimic.errors import AwrMimicError
from awr_mimic.learning.buffer import PathBuffer
from awr_mimic.learning.config import AWRConfig
from awr_mimic.learning.networks import ObsNorm, Policy, SpaceInfo, ValueNet, policy_weights
from awr_mimic.learning.normalizer import RunningNormalizer
from awr_mimic.learning import precision as precision_mod
from awr_mimic.learning.returns import td_lambda

ADV_EPS = 1e-5
VALUE_CHUNK = 16384


def awr_weights(adv: np.ndarray, beta: float, max_weight: float) -> tuple[np.ndarray, dict]:
    """Normalise advantages over the buffer, then w = min(exp(A / beta), omega_max)."""
    mean, std = float(adv.mean()), float(adv.std())
    norm = (adv - mean) / (std + ADV_EPS)
    raw = np.exp(norm / beta)
    w = np.minimum(raw, max_weight)
    stats = {"adv_mean": mean, "adv_std": std, "weight_mean": float(w.mean()),
             "weight_max": float(raw.max()), "weight_clipped": float(np.mean(raw > max_weight))}
    return w.astype(np.float32), stats


def _check_finite(loss: torch.Tensor, net: str, updates: int) -> None:
    """Stop with a clear error, before the step, rather than train on NaN for hours."""
    if not torch.isfinite(loss):
        raise AwrMimicError(
            f"training diverged: the {net} loss is not finite after {updates} {net} updates; "
            f"lower the {net} learning rate (--set {net}_lr=...) and resume from the last checkpoint"
        )


def policy_kwargs(cfg: AWRConfig) -> dict:
    """What a worker needs to build the policy network (weights come separately)."""
    return {"hidden": tuple(cfg.actor_hidden), "action_std": cfg.action_std,
            "init_output_scale": cfg.actor_init_output_scale, "obs_clip": cfg.obs_clip}


class AWR:
    def __init__(self, space: SpaceInfo, cfg: AWRConfig, device: str = "cpu"):
        self.space, self.cfg = space, cfg
        self.device = torch.device(device)
        torch.manual_seed(cfg.seed)
        self.obs_norm = ObsNorm(space.obs_dim, cfg.obs_clip)  # shared by actor and critic
        self.actor = Policy(space, obs_norm=self.obs_norm, **policy_kwargs(cfg)).to(self.device)
        self.critic = ValueNet(space, tuple(cfg.critic_hidden), cfg.gamma, obs_norm=self.obs_norm).to(self.device)
        self.actor_opt = self._optimizer(self.actor.net.parameters(), cfg.actor_lr)
        self.critic_opt = self._optimizer(self.critic.net.parameters(), cfg.critic_lr)
        self.normalizer = RunningNormalizer(space.obs_dim, cfg.normalizer_samples, cfg.normalizer_std_floor)
        self.buffer = PathBuffer(cfg.buffer_size, space.obs_dim, space.act_dim, space.discrete)
        self.rng = np.random.default_rng([cfg.seed, 12345])  # minibatch draws
        self.critic_updates = 0
        self.actor_updates = 0
        self._new_rows = None  # rows added since the last update (value refresh)
        width = max(tuple(cfg.actor_hidden) + tuple(cfg.critic_hidden))
        self.precision_choice = precision_mod.choose(cfg.precision, self.device, self.actor.net, space.obs_dim, width)
        self.precision = self.precision_choice["precision"]

    def _optimizer(self, params, lr):
        if self.cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=lr)
        return torch.optim.SGD(params, lr=lr, momentum=self.cfg.momentum)

    def _autocast(self):
        return precision_mod.autocast(self.device, self.precision)

    def policy_weights(self) -> dict[str, np.ndarray]:
        return policy_weights(self.actor)

    # -- data -------------------------------------------------------------------
    def add_batch(self, batch, tag: int = -1) -> None:
        """New paths: update the state normaliser (until frozen), store, value the new rows."""
        if batch.num_samples == 0:
            return
        if not self.normalizer.frozen:
            self.normalizer.update(batch.obs)
            self._sync_obs_norm()
        if self.cfg.on_policy:
            self.buffer.clear()  # ablation: learn from the last batch only
        starts = self.buffer.add_batch(batch, tag)
        new_rows = np.concatenate([np.arange(s, s + T + 1) for s, T in zip(starts, batch.lengths) if s >= 0])
        self._value_rows(new_rows)  # V on insert: their returns need it before the first pass
        self._new_rows = new_rows if self._new_rows is None else np.union1d(self._new_rows, new_rows)

    def _sync_obs_norm(self) -> None:
        with torch.no_grad():
            self.obs_norm.mean.copy_(torch.as_tensor(self.normalizer.mean, dtype=torch.float32))
            self.obs_norm.std.copy_(torch.as_tensor(self.normalizer.std, dtype=torch.float32))

    @torch.no_grad()
    def _value_rows(self, rows: np.ndarray) -> None:
        buf = self.buffer
        for i in range(0, len(rows), VALUE_CHUNK):
            r = rows[i:i + VALUE_CHUNK]
            obs = torch.as_tensor(buf.obs[r], device=self.device)
            with self._autocast():
                v = self.critic(obs)
            buf.val[r] = v.float().cpu().numpy()

    def _refresh_values(self, new_rows: np.ndarray | None) -> int:
        """Recompute cached V: all used rows, or the new rows plus a rotating share."""
        buf, f = self.buffer, self.cfg.value_refresh_fraction
        used = buf.path_rows()
        if f >= 1.0:
            self._value_rows(used)
            return len(used)
        k = max(1, int(math.ceil(f * buf.capacity)))
        lo = buf.refresh_ptr
        window = np.arange(lo, lo + k) % buf.capacity
        buf.refresh_ptr = (lo + k) % buf.capacity
        rows = np.intersect1d(used, window, assume_unique=True)
        if new_rows is not None and len(new_rows):
            rows = np.union1d(rows, new_rows)
        self._value_rows(rows)
        return len(rows)

    def returns(self) -> np.ndarray:
        """TD(lambda) (or Monte Carlo, lambda = 1) returns for every valid sample, oldest first."""
        ix, buf = self.buffer.index(), self.buffer
        final = np.where(ix["terminated"], 0.0, buf.val[ix["end_rows"]])  # failure: V(s_T) = 0
        lam = 1.0 if self.cfg.returns == "monte_carlo" else self.cfg.td_lambda
        return td_lambda(buf.rew[ix["rows"]], buf.val[ix["rows"]], final, ix["lengths"], self.cfg.gamma, lam)

    # -- update -----------------------------------------------------------------
    def num_steps(self, per_iter: int, new_samples: int) -> int:
        return int(math.ceil(per_iter * new_samples / self.cfg.samples_per_iter))

    def update(self, new_samples: int) -> dict:
        cfg, buf = self.cfg, self.buffer
        if len(buf) == 0 or len(buf) < cfg.learning_starts:
            return {}
        new_rows, self._new_rows = self._new_rows, None
        rows = buf.index()["rows"]
        stats = {"buffer_samples": float(len(buf)), "buffer_paths": float(buf.num_paths)}

        # 1-2: returns with the current critic, then fit the critic to them
        if cfg.value_refresh_fraction >= 1.0:
            self._refresh_values(None)
        ret = self.returns()
        stats["critic_loss"] = self._fit_critic(rows, ret, self.num_steps(cfg.critic_steps, new_samples))

        # 3-5: returns and advantages with the updated critic
        stats["values_refreshed"] = float(self._refresh_values(new_rows))
        ret = self.returns()
        adv = ret - buf.val[rows] if cfg.use_baseline else ret
        weights, wstats = awr_weights(adv, cfg.beta, cfg.max_weight)
        stats.update(wstats)
        stats["value_mean"] = float(buf.val[rows].mean())

        # 6: weighted regression of the actor
        stats["actor_loss"] = self._fit_actor(rows, weights, self.num_steps(cfg.actor_steps, new_samples))
        return stats

    def _batches(self, n: int, batch_size: int, steps: int):
        # walk through shuffled epochs like xbpeng/awr (each sample once per pass)
        perm, pos = self.rng.permutation(n), 0
        for _ in range(steps):
            if pos + batch_size > n:
                perm, pos = self.rng.permutation(n), 0
            yield perm[pos:pos + batch_size]
            pos += batch_size

    def _fit_critic(self, rows, ret, steps) -> float:
        buf, dev = self.buffer, self.device
        target_all = ((1.0 - self.cfg.gamma) * ret).astype(np.float32)  # value targets scaled by (1 - gamma)
        bs = min(self.cfg.critic_batch_size, len(rows))
        total = 0.0
        for idx in self._batches(len(rows), bs, steps):
            obs = torch.as_tensor(buf.obs[rows[idx]], device=dev)
            target = torch.as_tensor(target_all[idx], device=dev)
            with self._autocast():
                v = self.critic.forward_scaled(obs)
            loss = 0.5 * (target - v.float()).pow(2).mean()
            _check_finite(loss, "critic", self.critic_updates)
            self.critic_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.critic_opt.step()
            total += loss.item()
        self.critic_updates += steps
        return total / max(steps, 1)

    def _fit_actor(self, rows, weights, steps) -> float:
        buf, dev = self.buffer, self.device
        bs = min(self.cfg.actor_batch_size, len(rows))
        total = 0.0
        for idx in self._batches(len(rows), bs, steps):
            r = rows[idx]
            obs = torch.as_tensor(buf.obs[r], device=dev)
            act = torch.as_tensor(buf.act[r], device=dev)
            w = torch.as_tensor(weights[idx], device=dev)
            with self._autocast():
                out = self.actor(obs)
            loss = -(w * self.actor.log_prob_from_output(out, act)).mean()
            loss = loss + self.cfg.action_bound_weight * self.actor.bound_loss_from_output(out)
            _check_finite(loss, "actor", self.actor_updates)
            self.actor_opt.zero_grad(set_to_none=True)
            loss.backward()
            self.actor_opt.step()
            total += loss.item()
        self.actor_updates += steps
        return total / max(steps, 1)

    # -- checkpoints ------------------------------------------------------------
    def state_dict(self) -> dict:
        """Tensors and plain values only (checkpoints load with weights_only; tuples are stored as lists)."""
        return {
            "actor": dict(self.actor.state_dict()), "critic": dict(self.critic.state_dict()),
            "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
            "normalizer": self.normalizer.state_dict(), "rng": dict(self.rng.bit_generator.state),
            "critic_updates": int(self.critic_updates), "actor_updates": int(self.actor_updates),
        }

    def set_learning_rates(self, actor_lr: float, critic_lr: float) -> None:
        """Set both step sizes (a loaded optimiser state carries the old ones)."""
        for opt, lr in ((self.actor_opt, actor_lr), (self.critic_opt, critic_lr)):
            for group in opt.param_groups:
                group["lr"] = lr
                if "momentum" in group:
                    group["momentum"] = self.cfg.momentum

    def load_state_dict(self, d: dict) -> None:
        self.actor.load_state_dict(d["actor"])
        self.critic.load_state_dict(d["critic"])
        self.actor_opt.load_state_dict(d["actor_opt"])
        self.critic_opt.load_state_dict(d["critic_opt"])
        self.normalizer.load_state_dict(d["normalizer"])
        self.rng.bit_generator.state = {k: dict(v) if isinstance(v, dict) else v for k, v in d["rng"].items()}
        self.critic_updates = int(d["critic_updates"])
        self.actor_updates = int(d["actor_updates"])
