"""The push test: the largest horizontal push on the root that a policy survives (`awr-mimic eval --push`).

Protocol (docs/environment.md, "Push test"): a deterministic episode (mean action) starts on the
reference at a fixed clip phase; `settle_s` seconds in, a constant horizontal force is held on the
root body (the humanoid's and the dog's `root` link, else the base) for `duration_s` seconds,
applied before every physics substep, pointing forward, backward, left or right of the character's
heading at that moment (the root's yaw, as the observation's heading frame computes it). The
episode then runs to its time limit, `episode_s`. A force is survived when no episode falls
(DeepMimic's early termination) from any of the start phases. Per direction, after checking that
0 N (no push) is survived, the force rises on a grid (`step_N`, 2 `step_N`, ... up to `max_N`)
until a level falls; the interval between the last level survived and the first that fell is then
halved `refine` times. Survival is not monotonic in the force (the shipped walk, from phase 0.1
with a 0.5 s settle, fell at 25 N forward but not at 50 N), so a plain bisection over [0, max_N]
could report a force above one that falls; the grid reports the largest force below which every
force tried was survived.

A level stops at its first fall, and the phase that fell is tried first at the next level: falls
end their episode a second or so after the push, so the cost is the survived levels' full episodes.
The directions run in parallel worker processes (one torch thread each).
"""
from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import os

import numpy as np

from awr_mimic.anim import quat
from awr_mimic.errors import ConfigError, show
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.learning.networks import Policy, SpaceInfo, load_policy_weights

DIRECTIONS = ("forward", "backward", "left", "right")


@dataclasses.dataclass(frozen=True)
class PushSettings:
    duration_s: float = 0.2
    start_phases: tuple[float, ...] = (0.1, 0.4, 0.7)
    settle_s: float = 2.0
    episode_s: float = 20.0
    max_N: float = 800.0
    step_N: float = 25.0  # the grid
    refine: int = 2  # halvings between the last survived and the first failed grid level: 6.25 N
    directions: tuple[str, ...] = DIRECTIONS

    def __post_init__(self):
        object.__setattr__(self, "start_phases", tuple(float(x) for x in self.start_phases))
        object.__setattr__(self, "directions", tuple(self.directions))
        if not self.start_phases or not all(0.0 <= x <= 1.0 for x in self.start_phases):
            raise ConfigError(f"push start phases must be numbers in [0, 1], got {show(list(self.start_phases))}")
        for name in ("duration_s", "settle_s", "episode_s", "max_N", "step_N"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"push {name} must be a positive number, got {show(v)}")
        if self.settle_s + self.duration_s > self.episode_s:
            raise ConfigError(f"the push (settle {self.settle_s:g} s + {self.duration_s:g} s) must end within the "
                              f"episode ({self.episode_s:g} s)")
        if self.step_N > self.max_N:
            raise ConfigError(f"the push grid step ({self.step_N:g} N) exceeds the largest push ({self.max_N:g} N)")
        if not (isinstance(self.refine, int) and 0 <= self.refine <= 10):
            raise ConfigError(f"push refinement halvings must be an integer in 0-10, got {show(self.refine)}")
        bad = [d for d in self.directions if d not in DIRECTIONS]
        if bad or not self.directions:
            raise ConfigError(f"push directions are {', '.join(DIRECTIONS)}; got {show(list(self.directions))}")

    def to_dict(self) -> dict:
        return {"duration_s": self.duration_s, "start_phases": list(self.start_phases), "settle_s": self.settle_s,
                "episode_s": self.episode_s, "max_N": self.max_N, "step_N": self.step_N, "refine": self.refine}


def push_direction(root_quat, up_axis: int, direction: str) -> np.ndarray:
    """Unit horizontal world vector of a push `direction` relative to the heading of a root rotation
    (x,y,z,w): the root's yaw about the up axis, the body facing +x (`quat.heading`). Left is
    up x forward."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"push direction must be one of {', '.join(DIRECTIONS)}, got {show(direction)}")
    h = quat.heading(np.asarray(root_quat, dtype=np.float64), up_axis)
    forward = quat.rotate(quat.yaw_quat(h, up_axis), np.array([1.0, 0.0, 0.0]))
    forward[up_axis] = 0.0
    forward /= np.linalg.norm(forward)
    up = np.zeros(3)
    up[up_axis] = 1.0
    left = np.cross(up, forward)
    return {"forward": forward, "backward": -forward, "left": left, "right": -left}[direction]


def root_link(character) -> int:
    """The body pushed: the link named `root` (the humanoid's pelvis, the dog's root), else the base (-1)."""
    names = character.skeleton.link_names
    return names.index("root") if "root" in names else -1


class PushEpisodes:
    """One imitation env and a deterministic policy: runs push episodes."""

    def __init__(self, env_spec: EnvSpec, policy_kwargs: dict, weights: dict, settings: PushSettings):
        if not env_spec.is_mimic:
            raise ConfigError(f"the push test needs a motion-imitation policy; this one is for {env_spec.id}")
        self.settings = settings
        self.env = env_spec.make(time_limit=float(settings.episode_s))
        env = self.env.unwrapped
        env.training = False  # evaluation episodes: DeepMimic's termination only
        self.space = SpaceInfo.from_env(self.env)
        self.policy = Policy(self.space, **policy_kwargs)
        load_policy_weights(self.policy, weights)
        self.policy.eval()
        self.link = root_link(env.character)
        self.settle_steps = int(round(settings.settle_s * env.control_hz))
        self.episodes = 0
        self.seconds = 0.0

    def survives(self, force: float, direction: str, phase: float) -> bool:
        """One episode from `phase` with a push of `force` N `direction`; True when it does not fall."""
        env = self.env.unwrapped
        obs, _ = self.env.reset(seed=0, options={"phase": float(phase)})
        self.episodes += 1
        pushed = force <= 0.0
        t = 0
        while True:
            if t == self.settle_steps and force > 0.0:
                vec = push_direction(env.batch.sim.root_quat[0], env.up_axis, direction)
                env.world.hold_force(self.link, float(force) * vec, self.settings.duration_s)
                pushed = True
            action = self.policy.act(obs, None, deterministic=True)
            obs, _, terminated, truncated, info = self.env.step(self.space.to_env_action(action))
            t += 1
            if info["fell"]:
                self.seconds += t * env.dt
                return False
            if terminated or truncated:
                break
        self.seconds += t * env.dt
        if not pushed or env.world.holding_force:
            raise ConfigError(f"the episode from phase {phase:g} ended at {t * env.dt:.2f} s (the clip does not "
                              f"loop), before the push ended: shorten --push-settle or start earlier")
        return True

    def level(self, force: float, direction: str, order: list) -> float | None:
        """The first phase of `order` that falls at `force` (moved to the front of `order`), or None."""
        for phase in list(order):
            if not self.survives(force, direction, phase):
                order.remove(phase)
                order.insert(0, phase)
                return phase
        return None

    def search(self, direction: str) -> dict:
        """The grid then the refinement (0 N is taken as survived: `push_test` checks it first)."""
        s = self.settings
        order = list(s.start_phases)
        lo, hi, fell = 0.0, None, None
        k = 1
        while k * s.step_N <= s.max_N * (1 + 1e-9):
            fell = self.level(k * s.step_N, direction, order)
            if fell is not None:
                hi = k * s.step_N
                break
            lo = k * s.step_N
            k += 1
        if hi is None:
            return {"survived_N": lo, "failed_N": None, "failed_phase": None}
        for _ in range(s.refine):
            mid = 0.5 * (lo + hi)
            phase = self.level(mid, direction, order)
            if phase is None:
                lo = mid
            else:
                hi, fell = mid, phase
        return {"survived_N": lo, "failed_N": hi, "failed_phase": fell}

    def close(self):
        self.env.close()


def _run(task):
    """A worker's job: ("baseline", phase) or ("direction", name). Returns (result, episodes, seconds)."""
    kind, arg, env_spec, policy_kwargs, weights, settings = task
    runner = PushEpisodes(env_spec, policy_kwargs, weights, settings)
    try:
        out = runner.survives(0.0, "forward", arg) if kind == "baseline" else runner.search(arg)
        return out, runner.episodes, runner.seconds
    finally:
        runner.close()


def _init_worker():
    import torch

    torch.set_num_threads(1)


def _map(tasks: list, workers: int) -> list:
    if workers <= 0 or len(tasks) == 1:
        return [_run(t) for t in tasks]
    from concurrent.futures import ProcessPoolExecutor

    from awr_mimic.sampling.local import _main_module_hidden

    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    with _main_module_hidden(), ProcessPoolExecutor(min(workers, len(tasks)), mp_context=ctx,
                                                    initializer=_init_worker) as pool:
        return list(pool.map(_run, tasks))


def push_test(env_spec: EnvSpec, policy_kwargs: dict, weights: dict, settings: PushSettings | None = None,
              workers: int | None = None) -> dict:
    """The push test of a policy (weights as numpy arrays). Returns, per direction, survived_N (every force
    tried up to it was survived from every start phase; None when it falls without a push), failed_N (the
    force above it that fell; None when every force up to max_N was survived) and failed_phase (the start
    phase that fell at failed_N), plus the settings, `link` (the pushed body), `weakest` (the direction with
    the smallest survived_N), `episodes` and `simulated_s` (simulated seconds, all episodes)."""
    settings = settings or PushSettings()
    if workers is None:
        workers = min(len(settings.directions), os.cpu_count() or 1)
    common = (env_spec, policy_kwargs, weights, settings)
    base = _map([("baseline", ph, *common) for ph in settings.start_phases], workers)
    episodes = sum(b[1] for b in base)
    seconds = sum(b[2] for b in base)
    fell = [ph for ph, b in zip(settings.start_phases, base) if not b[0]]
    if fell:  # no push at all is already a fall: nothing to search
        per = {d: {"survived_N": None, "failed_N": 0.0, "failed_phase": fell[0]} for d in settings.directions}
    else:
        runs = _map([("direction", d, *common) for d in settings.directions], workers)
        per = {d: r[0] for d, r in zip(settings.directions, runs)}
        episodes += sum(r[1] for r in runs)
        seconds += sum(r[2] for r in runs)
    from awr_mimic.characters.character import get_character

    character = get_character(env_spec.kwargs.get("character", "humanoid"))
    link = root_link(character)
    out = {**per, **settings.to_dict(), "directions": list(settings.directions),
           "link": character.skeleton.link_names[link] if link >= 0 else "base",
           "weakest": weakest(per), "episodes": int(episodes), "simulated_s": round(float(seconds), 2)}
    return out


def weakest(per: dict) -> str | None:
    """The direction with the smallest survived force (None survived counts as -1: it falls unpushed)."""
    known = {d: r for d, r in per.items() if isinstance(r, dict) and "survived_N" in r}
    if not known:
        return None
    return min(known, key=lambda d: -1.0 if known[d]["survived_N"] is None else known[d]["survived_N"])
