"""`awr_mimic/Mimic-v0`: DeepMimic-style motion imitation in pybullet.

One step = one control step (1/control_hz s): the action sets stable-PD
targets, physics runs `sim_hz / control_hz` substeps with PD applied before
each, and only then are the reward and the observation computed.

Action: absolute PD targets, one number per actuated DoF in the character's
joint order: an exponential map (axis * angle, rad) for each spherical joint,
an angle (rad) for each revolute joint. Bounds: [-pi, pi] for exp-map
components, the URDF joint limits for revolute joints. Actions outside the
bounds are clipped. Learners normalise with the bounds' centre and half-range.

Observation: see `awr_mimic.envs.observation`.

Episodes: reference state initialisation (a uniform random phase with the
reference pose and velocities, or `start_phase`); early termination
(`terminated=True`, a failure) when a link not allowed to touch the ground
does; a non-looping clip's end also sets `terminated=True` (no reward is left);
the time limit (20 s) sets `truncated=True`.
"""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from awr_mimic.anim import quat
from awr_mimic.characters import get_character, load_clip
from awr_mimic.envs.observation import observation_size, observe
from awr_mimic.envs.reference import ReferenceMotion
from awr_mimic.envs.reward import TERM_NAMES, ImitationReward
from awr_mimic.envs.world import World
from awr_mimic.errors import ConfigError

DEFAULT_SIM_HZ = 240
DEFAULT_CONTROL_HZ = 30


class MimicEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": DEFAULT_CONTROL_HZ}

    def __init__(
        self,
        character: str = "humanoid",
        clip: str | None = None,
        sim_hz: int = DEFAULT_SIM_HZ,
        control_hz: int = DEFAULT_CONTROL_HZ,
        time_limit: float = 20.0,
        start_phase: float | None = None,
        early_termination: bool = True,
        sync_reference: bool = True,
        render_mode: str | None = None,
        render_size: tuple[int, int] = (640, 480),
    ):
        _check_options(sim_hz, control_hz, time_limit, start_phase, render_mode)
        self.character = get_character(character)
        clip = clip or self.character.default_clip
        if clip is None:
            raise ConfigError(f"character {self.character.name!r} has no default clip; pass clip=...")
        self.clip = load_clip(self.character, clip)
        self.sim_hz = int(sim_hz)
        self.control_hz = int(control_hz)
        self.substeps = self.sim_hz // self.control_hz
        self.dt = 1.0 / self.control_hz
        self.time_limit = float(time_limit)
        self.start_phase = start_phase
        self.early_termination = early_termination
        self.sync_reference = sync_reference
        self.render_mode = render_mode
        self.render_size = tuple(render_size)
        self.options = dict(
            character=character, clip=clip, sim_hz=self.sim_hz, control_hz=self.control_hz, time_limit=self.time_limit,
            start_phase=start_phase, early_termination=early_termination, sync_reference=sync_reference,
        )

        self.world = World(self.character, self.sim_hz)
        self.reference = ReferenceMotion(self.character, self.clip)
        up = self.character.up_axis
        self.up_axis = up
        self.reward_fn = ImitationReward(
            self.character.reward_weights, self.character.root_reward_weight, self.world.is_spherical,
            self.world.layout,
        )
        skeleton = self.character.skeleton
        self._masses = skeleton.masses
        self._base_mass = skeleton.base_mass
        self._total_mass = skeleton.total_mass
        self._ee_links = self.character.end_effector_links
        self._terminal_contact = np.zeros(skeleton.num_links + 1, dtype=bool)  # index -1 = base
        self._terminal_contact[self.character.termination_links(self.clip.name)] = True

        # action: exp map per spherical joint, angle per revolute joint
        low, high = [], []
        for link, spherical in zip(self.world.joint_indices, self.world.is_spherical):
            if spherical:
                low += [-math.pi] * 3
                high += [math.pi] * 3
            else:
                lo, hi = skeleton.joint_limits[link]
                lo, hi = (lo, hi) if lo < hi else (-math.pi, math.pi)
                low.append(lo)
                high.append(hi)
        self.action_space = gym.spaces.Box(np.array(low, np.float32), np.array(high, np.float32), dtype=np.float32)
        self._action_low = self.action_space.low.astype(np.float64)
        self._action_high = self.action_space.high.astype(np.float64)
        self._low_list, self._high_list = self._action_low.tolist(), self._action_high.tolist()
        self._sph_action = np.flatnonzero(np.repeat(self.world.is_spherical, np.where(self.world.is_spherical, 3, 1)))
        self._rev_action = np.setdiff1d(np.arange(len(low)), self._sph_action)

        obs_size = observation_size(skeleton.num_links)
        obs_low = np.full(obs_size, -np.inf, np.float32)
        obs_high = np.full(obs_size, np.inf, np.float32)
        obs_low[0], obs_high[0] = 0.0, 1.0
        self.observation_space = gym.spaces.Box(obs_low, obs_high, dtype=np.float32)

        # steps in a full-horizon episode from phase 0: the normaliser of returns
        horizon = self.time_limit if self.clip.loop == "wrap" else min(self.time_limit, self.clip.duration)
        self.horizon_steps = max(1, int(math.ceil(horizon * self.control_hz - 1e-9)))
        self._max_steps = int(math.ceil(self.time_limit * self.control_hz - 1e-9))
        self.time = 0.0
        self.steps = 0
        self._cycle = 0

    # ------------------------------------------------------------ gym API

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        phase = (options or {}).get("phase", self.start_phase)
        if phase is None:
            phase = self.np_random.uniform(0.0, 1.0)
        elif not 0.0 <= phase <= 1.0:
            raise ConfigError(f"start phase must be in [0, 1], got {phase!r}")
        self.time = float(phase) * self.clip.duration
        self.steps = 0
        self.reference.reset_transform()
        ref = self.reference.at(self.time)
        self._cycle = ref.cycle
        self.world.set_state(
            ref.root_pos, ref.root_quat, ref.root_vel, ref.root_ang_vel,
            ref.joint_quats, ref.joint_angles, ref.joint_ang_vels, ref.joint_angle_vels,
        )
        self._sim = self.world.read_state()
        self._ref = ref
        obs = observe(self._ref.phase, self._sim, self.up_axis, quat.inverse_heading(self._sim.root_quat, self.up_axis))
        return obs, {"phase": self._ref.phase, "time": self.time}

    def step(self, action):
        action = action.tolist() if isinstance(action, np.ndarray) else list(action)
        self.world.set_pd_targets_from_action(action, self._low_list, self._high_list)
        self.world.step_physics(self.substeps)
        self.time += self.dt
        self.steps += 1

        sim = self.world.read_state()
        where = self.reference.locate(self.time)
        if self.sync_reference and where[3] != self._cycle:
            self.reference.sync_to(self.time, sim.root_pos, sim.root_quat)
        self._cycle = where[3]
        ref = self.reference.at(self.time, where)
        self._sim, self._ref = sim, ref

        com_vel = (self._masses @ sim.link_vel + self._base_mass * sim.root_vel) / self._total_mass
        heading_frame = quat.inverse_heading(sim.root_quat, self.up_axis)
        reward, terms, tracking = self.reward_fn(sim, ref, self._end_effectors_rel(sim, heading_frame[0]), com_vel)

        fell = self.early_termination and bool(self._terminal_contact[self.world.ground_contact_links()].any())
        clip_over = self.clip.loop == "none" and self.time >= self.clip.duration - 1e-9
        terminated = fell or clip_over
        truncated = (not terminated) and self.steps >= self._max_steps
        info = {
            "phase": ref.phase,
            "time": self.time,
            "reward_terms": terms,
            **tracking,
            "fell": fell,
        }
        obs = observe(ref.phase, sim, self.up_axis, heading_frame)
        return obs, reward, terminated, truncated, info

    def close(self):
        self.world.close()

    def _end_effectors_rel(self, sim, to_heading):
        """End effectors relative to the root in its heading frame, height above the ground."""
        ee = sim.link_pos[self._ee_links]
        rel = (ee - sim.root_pos) @ to_heading.T
        rel[:, self.up_axis] = ee[:, self.up_axis]
        return rel

    # ------------------------------------------------------------ helpers

    def reference_action(self) -> np.ndarray:
        """The action whose PD targets are the reference pose at t + 1/control_hz."""
        ref = self.clip.sample(self.time + self.dt)
        action = np.empty(self.action_space.shape, np.float64)
        action[self._sph_action] = quat.to_expmap(ref.joint_quats).ravel()
        action[self._rev_action] = ref.joint_angles
        return np.clip(action, self._action_low, self._action_high).astype(np.float32)

    def reference_link_frames(self):
        """World link frames of the reference now (for viewers)."""
        return self.reference.link_frames(self.time)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from awr_mimic.envs.camera import render_rgb

        return render_rgb(self.world, self._sim.root_pos, self.up_axis, *self.render_size)


def _check_options(sim_hz, control_hz, time_limit, start_phase, render_mode):
    if not isinstance(control_hz, int) or control_hz <= 0:
        raise ConfigError(f"control_hz must be a positive integer, got {control_hz!r}")
    if not isinstance(sim_hz, int) or sim_hz <= 0 or sim_hz % control_hz:
        raise ConfigError(f"sim_hz must be a positive multiple of control_hz ({control_hz}), got {sim_hz!r}")
    if not time_limit > 0:
        raise ConfigError(f"time_limit must be positive, got {time_limit!r}")
    if start_phase is not None and not 0.0 <= start_phase <= 1.0:
        raise ConfigError(f"start_phase must be in [0, 1] or None, got {start_phase!r}")
    if render_mode not in (None, "rgb_array"):
        raise ConfigError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
