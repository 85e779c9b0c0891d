"""What the viewer plays: a character driven by physics (a policy) or by a clip.

Both kinds of session share one interface, used by the browser app, the video
renderer and the HTML exporter alike:

- ``pose()``: the URDF frames of the character shown solid;
- ``ghost_pose()``: the reference motion's frames (None when there is none);
- ``advance()``: one control step (physics) or ``dt`` seconds (motion);
- ``reset(random_start)``: a new RSI start, or phase 0;
- ``readouts()``: numbers for the GUI (time, phase, returns, ...).

A :class:`PhysicsSession` also takes pushes (``push``) and keeps a history of
reward terms and tracking errors for the live plot.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Callable

import numpy as np

from awr_mimic_viewer.meshes import BASE, Pose, body_pose, clip_pose, reference_pose

# policy(obs, env) -> env action
PolicyFn = Callable[[np.ndarray, object], np.ndarray]

TRACKING_KEYS = ("joint_angle_error", "end_effector_error")
PUSH_DURATION = 1.0 / 30.0  # a push spreads its impulse over this long (one control step at 30 Hz)


def reference_policy(obs, env):
    """PD-track the reference (no learned policy): targets = reference pose at t + dt."""
    return env.reference_action()


@dataclass
class PushRecord:
    link: int
    link_name: str
    point: np.ndarray  # world, where the ray hit
    direction: np.ndarray  # unit, world
    impulse: float  # N s
    time: float  # env time when queued
    applied: bool = False


class PhysicsSession:
    """A policy driving the env's character in pybullet, with the reference as ghost."""

    kind = "physics"

    def __init__(self, make_env: Callable[[str | None], object], policy: PolicyFn, policy_name: str = "policy",
                 clip: str | None = None, random_start: bool = False, seed: int | None = None,
                 history: int = 300):
        self._make_env = make_env
        self.policy = policy
        self.policy_name = policy_name
        self.random_start = random_start
        self._rng = np.random.default_rng(seed)
        self.history_len = history
        self.env = None
        self._pending: list[PushRecord] = []
        self.pushes: list[PushRecord] = []
        self.set_clip(clip)

    # ------------------------------------------------------------ setup

    def set_clip(self, clip: str | None) -> None:
        """(Re)build the env for `clip` (None: the env's default) and reset."""
        env = self._make_env(clip)
        if self.env is not None:
            self.env.close()
        self.env = env
        self.clip_source = clip  # what was asked for: a registered name, the user's file, or None
        self.character = env.character
        self.clip = env.clip
        self.skeleton = env.character.skeleton
        self.dt = env.dt
        self.reset(self.random_start)

    # ------------------------------------------------------------ control

    def reset(self, random_start: bool | None = None) -> None:
        if random_start is None:
            random_start = self.random_start
        options = None if random_start else {"phase": 0.0}
        seed = int(self._rng.integers(2**31)) if random_start else None
        self.obs, _ = self.env.reset(seed=seed, options=options)
        self._pending.clear()
        self.episode_return = 0.0
        self.episode_steps = 0
        self.last_reward = 0.0
        self.last_info: dict = {}
        self.history = {k: collections.deque(maxlen=self.history_len) for k in self.series_names()}
        self.episodes_done = getattr(self, "episodes_done", 0)
        self.last_episode: dict | None = getattr(self, "last_episode", None)
        self.done_reason = ""

    def advance(self) -> None:
        """One control step; an ended episode restarts (same start mode) and is summarised in last_episode."""
        env = self.env
        for r in self._pending:  # queued pushes act during this step's first substeps
            env.world.push(r.link, r.direction * r.impulse, r.point, PUSH_DURATION)
            r.applied = True
        self._pending.clear()
        action = self.policy(self.obs, env)
        self.obs, reward, terminated, truncated, info = env.step(action)
        self.last_reward = float(reward)
        self.last_info = info
        self.episode_return += float(reward)
        self.episode_steps += 1
        self.history["time"].append(env.time)
        self.history["reward"].append(float(reward))
        for k, v in info.get("reward_terms", {}).items():
            if k in self.history:
                self.history[k].append(float(v))
        for k in TRACKING_KEYS:
            if k in info:
                self.history[k].append(float(info[k]))
        if terminated or truncated:
            reason = "fell" if info.get("fell") else ("clip ended" if terminated else "time limit")
            self.last_episode = {
                "return": self.episode_return,
                "normalised": self.episode_return / env.horizon_steps,
                "steps": self.episode_steps,
                "reason": reason,
            }
            self.episodes_done += 1
            self.reset()
            self.done_reason = reason

    def push(self, link: int, point, direction, impulse: float) -> PushRecord:
        """Queue a force impulse (N s) on `link` at world `point` along `direction`; it acts on the next step."""
        direction = np.asarray(direction, dtype=np.float64)
        direction = direction / max(np.linalg.norm(direction), 1e-12)
        name = "base" if link == BASE else self.skeleton.link_names[link]
        record = PushRecord(link, name, np.asarray(point, dtype=np.float64), direction, float(impulse), self.env.time)
        self._pending.append(record)
        self.pushes.append(record)
        del self.pushes[:-20]
        return record

    def pick(self, ray_origin, ray_direction, length: float = 100.0):
        """The character's link hit by a ray: (link, hit point) or None (pybullet rayTest)."""
        from awr_mimic.envs.world import p

        origin = np.asarray(ray_origin, dtype=np.float64)
        direction = np.asarray(ray_direction, dtype=np.float64)
        direction = direction / max(np.linalg.norm(direction), 1e-12)
        end = origin + length * direction
        hit = p.rayTest(origin.tolist(), end.tolist(), physicsClientId=self.env.world.client)[0]
        body, link, fraction, position = hit[0], hit[1], hit[2], hit[3]
        if body != self.env.world.body or fraction >= 1.0:
            return None
        return link, np.array(position)

    def link_velocity(self, link: int) -> np.ndarray:
        """World linear velocity of a link's centre of mass (base: -1)."""
        from awr_mimic.envs.world import p

        world = self.env.world
        if link == BASE:
            return np.array(p.getBaseVelocity(world.body, physicsClientId=world.client)[0])
        state = p.getLinkState(world.body, link, computeLinkVelocity=1, physicsClientId=world.client)
        return np.array(state[6])

    # ------------------------------------------------------------ views

    @property
    def time(self) -> float:
        return self.env.time

    @property
    def duration(self) -> float:
        return self.clip.duration

    @property
    def phase(self) -> float:
        return float(self.last_info.get("phase", (self.env.time / self.clip.duration) % 1.0))

    def pose(self) -> Pose:
        world = self.env.world
        return body_pose(world.client, world.body, self.skeleton)

    def ghost_pose(self) -> Pose | None:
        return reference_pose(self.env.reference, self.env.time)

    def series_names(self) -> list[str]:
        from awr_mimic.envs.reward import TERM_NAMES

        return ["time", "reward", *TERM_NAMES, *TRACKING_KEYS]

    def readouts(self) -> dict:
        out = {
            "time": self.env.time,
            "phase": self.phase,
            "reward": self.last_reward,
            "episode_return": self.episode_return,
            "normalised_return": self.episode_return / self.env.horizon_steps,
            "episode_steps": self.episode_steps,
        }
        for k in TRACKING_KEYS:
            if k in self.last_info:
                out[k] = float(self.last_info[k])
        return out

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None


class MotionSession:
    """Kinematic playback of a clip (no physics): the clip is the character, there is no ghost."""

    kind = "motion"

    def __init__(self, character, clip_name: str | None = None, dt: float = 1.0 / 30.0,
                 random_start: bool = False, seed: int | None = None):
        from awr_mimic.characters import get_character

        self.character = get_character(character) if isinstance(character, str) else character
        self.skeleton = self.character.skeleton
        self.dt = dt
        self.random_start = random_start
        self._rng = np.random.default_rng(seed)
        self.policy_name = "clip"
        self.set_clip(clip_name)

    def set_clip(self, clip: str | None) -> None:
        from awr_mimic.characters import load_clip
        from awr_mimic.errors import ConfigError

        clip = clip or self.character.default_clip
        if clip is None:
            raise ConfigError(f"character {self.character.name!r} has no default clip; pass --clip")
        self.clip = load_clip(self.character, clip)
        self.clip_source = clip
        self.reset(self.random_start)

    def reset(self, random_start: bool | None = None) -> None:
        if random_start is None:
            random_start = self.random_start
        self._time = float(self._rng.uniform(0, self.clip.duration)) if random_start else 0.0

    def advance(self, dt: float | None = None) -> None:
        self._time += self.dt if dt is None else dt
        if self.clip.loop != "wrap" and self._time > self.clip.duration:
            self._time = 0.0  # a one-shot clip replays from the start

    def seek(self, t: float) -> None:
        self._time = float(min(max(t, 0.0), self.clip.duration))

    @property
    def time(self) -> float:
        return self._time

    @property
    def duration(self) -> float:
        return self.clip.duration

    @property
    def phase(self) -> float:
        d = self.clip.duration
        return (self._time % d) / d if self.clip.loop == "wrap" else min(self._time / d, 1.0)

    @property
    def local_time(self) -> float:
        return self.phase * self.clip.duration

    def pose(self) -> Pose:
        return clip_pose(self.character, self.clip, self._time)

    def ghost_pose(self) -> Pose | None:
        return None

    def readouts(self) -> dict:
        return {"time": self._time, "phase": self.phase, "frame": int(round(self.phase * (self.clip.num_frames - 1)))}

    def close(self) -> None:
        pass


def side_axis(up_axis: int) -> np.ndarray:
    """Horizontal axis perpendicular to the characters' facing direction (+x): z for y-up, y for z-up."""
    v = np.zeros(3)
    v[2 if up_axis == 1 else 1] = 1.0
    return v


def up_vector(up_axis: int) -> np.ndarray:
    v = np.zeros(3)
    v[up_axis] = 1.0
    return v


def character_size(pose: Pose) -> float:
    """Rough size of a character in a pose (m): the spread of its link frames."""
    pts = np.vstack([pose.link_pos, pose.base_pos[None]])
    return float(max(np.ptp(pts, axis=0).max(), 0.3))


def camera_offset(up_axis: int, size: float) -> np.ndarray:
    """Eye minus target of a side view that frames a character of `size` metres (characters face +x)."""
    up, side = up_vector(up_axis), side_axis(up_axis)
    distance = float(np.clip(2.6 * size, 1.0, 8.0))
    return distance * side + 0.18 * distance * up + 0.2 * distance * np.cross(up, side)


def frame_steps(session, n: int, fps: float):
    """Advance `session` through `n` frames of a recording; yields each frame's index.

    A clip moves by exactly one frame time; physics runs whole control steps, carrying
    the remainder over, so video time matches simulated time.
    """
    frame_dt = 1.0 / fps
    carry = 0.0
    for i in range(n):
        if i:
            if session.kind == "motion":
                session.advance(frame_dt)
            else:
                carry += frame_dt
                while carry >= session.dt - 1e-9:
                    session.advance()
                    carry -= session.dt
        yield i
