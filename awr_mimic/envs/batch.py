"""K imitation environments stepped together, sharing one vectorised numpy pass.

Each env owns its pybullet world; physics and the state reads run per world.
Everything after the physics (the reference, the reward, the observation) is
computed for all K envs with the same few whole-array operations, so the
numpy call overhead, which dominates once physics is fast, is paid once per
batch instead of once per env. `MimicEnv` is this with K = 1; samplers use K > 1.
"""
from __future__ import annotations

import math
from itertools import chain

import numpy as np

from awr_mimic.anim import quat
from awr_mimic.characters import get_character, load_clip
from awr_mimic.envs.observation import observation_size, observe, target_frame, target_frame_size
from awr_mimic.envs.reference import ReferenceMotion
from awr_mimic.envs.reward import ImitationReward
from awr_mimic.envs.world import SimBatch, World
from awr_mimic.errors import ConfigError, show, unknown_name

DEFAULT_SIM_HZ = 240
DEFAULT_CONTROL_HZ = 30
ACTION_MODES = ("absolute", "residual")


class MimicBatch:
    def __init__(
        self,
        num_envs: int = 1,
        character: str = "humanoid",
        clip: str | None = None,
        sim_hz: int = DEFAULT_SIM_HZ,
        control_hz: int = DEFAULT_CONTROL_HZ,
        time_limit: float = 20.0,
        start_phase: float | None = None,
        early_termination: bool = True,
        sync_reference: bool = True,
        action_mode: str = "absolute",
        target_obs_steps=(),
        pose_termination: float | None = None,
    ):
        check_options(sim_hz, control_hz, time_limit, start_phase)
        action_mode, target_obs_steps, pose_termination = check_learning_options(
            action_mode, target_obs_steps, pose_termination)
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ConfigError(f"num_envs must be a positive integer, got {show(num_envs)}")
        self.character = get_character(character)
        clip = clip or self.character.default_clip
        if clip is None:
            raise ConfigError(f"character {self.character.name!r} has no default clip; pass clip=...")
        self.clip = load_clip(self.character, clip)
        self.num_envs = num_envs
        self.sim_hz, self.control_hz = int(sim_hz), int(control_hz)
        self.substeps = self.sim_hz // self.control_hz
        self.dt = 1.0 / self.control_hz
        self.time_limit = float(time_limit)
        self.start_phase = start_phase
        self.early_termination = early_termination
        self.sync_reference = sync_reference
        self.action_mode = action_mode
        self.target_obs_steps = target_obs_steps
        # Drift termination is a training aid: it applies while `training` is set (samplers clear it
        # for evaluation episodes, which keep DeepMimic's termination).
        self.pose_termination = pose_termination
        self.training = True
        self.options = dict(
            character=character, clip=clip, sim_hz=self.sim_hz, control_hz=self.control_hz,
            time_limit=self.time_limit, start_phase=start_phase, early_termination=early_termination,
            sync_reference=sync_reference, action_mode=action_mode, target_obs_steps=list(target_obs_steps),
            pose_termination=pose_termination,
        )
        self.up_axis = self.character.up_axis
        self.worlds = [World(self.character, self.sim_hz) for _ in range(num_envs)]
        world = self.worlds[0]
        self.layout = world.layout
        self.motion = ReferenceMotion(self.character, self.clip)
        self.reward_fn = ImitationReward(
            self.character.reward_weights, self.character.root_reward_weight, world.is_spherical, world.layout
        )
        skeleton = self.character.skeleton
        self.num_links = skeleton.num_links
        # whole-body COM velocity = link masses . link COM velocities (+ the base)
        self._link_mass_share = skeleton.masses / skeleton.total_mass
        self._base_mass_share = skeleton.base_mass / skeleton.total_mass
        self._ee_links = self.character.end_effector_links
        self._terminal_contact = np.zeros(skeleton.num_links + 1, dtype=bool)  # index -1 = base
        self._terminal_contact[self.character.termination_links(self.clip.name)] = True

        # action: exp map per spherical joint, angle per revolute joint
        low, high = [], []
        for link, spherical in zip(world.joint_indices, world.is_spherical):
            if spherical:
                low += [-math.pi] * 3
                high += [math.pi] * 3
            else:
                lo, hi = skeleton.joint_limits[link]
                lo, hi = (lo, hi) if lo < hi else (-math.pi, math.pi)
                low.append(lo)
                high.append(hi)
        # The action space is [-pi, pi] on every component, centred on the rest pose (all joint
        # angles zero), so a policy's zero output holds the body straight rather than at mid-range
        # of each joint (knees half bent, which falls at once). Targets are then clipped to
        # each joint's range.
        self.target_low, self.target_high = np.array(low), np.array(high)
        self.action_low, self.action_high = np.full(len(low), -math.pi), np.full(len(low), math.pi)
        sizes = np.where(world.is_spherical, 3, 1)
        self.sph_action = np.flatnonzero(np.repeat(world.is_spherical, sizes))
        self.rev_action = np.setdiff1d(np.arange(len(low)), self.sph_action)
        self.observation_size = observation_size(skeleton.num_links)
        self.observation_size += len(target_obs_steps) * target_frame_size(
            int(np.sum(world.is_spherical)), int(np.sum(~np.asarray(world.is_spherical))), len(self._ee_links))
        # future reference steps the observation needs (residual actions need t + dt)
        self._future_steps = sorted(set(target_obs_steps) | ({1} if action_mode == "residual" else set()))

        # steps in a full-horizon episode from phase 0: the normaliser of returns
        horizon = self.time_limit if self.clip.loop == "wrap" else min(self.time_limit, self.clip.duration)
        self.horizon_steps = max(1, int(math.ceil(horizon * self.control_hz - 1e-9)))
        self.max_steps = int(math.ceil(self.time_limit * self.control_hz - 1e-9))

        K = num_envs
        self.time = np.zeros(K)
        self.steps = np.zeros(K, dtype=np.int64)
        self.cycle = np.zeros(K, dtype=np.int64)
        # per env clip-to-world map of the reference: yaw rotation (3x3 and 4x4 forms), translation
        self.ref_rot3 = np.tile(np.eye(3), (K, 1, 1))
        self.ref_rot4 = np.tile(np.eye(4), (K, 1, 1))
        self.ref_translation = np.zeros((K, 3))
        self.ref_yaw = np.zeros(K)
        self.sim: SimBatch | None = None  # state after the last reset/step of each env
        # residual actions: the reference joint targets at t + dt, per env
        self._next_joint_quats = np.tile(quat.IDENTITY, (K, int(np.sum(world.is_spherical)), 1))
        self._next_joint_angles = np.zeros((K, len(self.rev_action)))
        self.ref = None
        self._state_size = world.state_size

    # ------------------------------------------------------------ episodes

    def reset(self, envs, phases) -> np.ndarray:
        """Put envs (an index or indices) on the reference at `phases` (RSI); returns their observations."""
        envs = np.atleast_1d(np.asarray(envs, dtype=np.int64))
        phases = np.broadcast_to(np.asarray(phases, dtype=np.float64), envs.shape)
        if np.any((phases < 0.0) | (phases > 1.0)) or not np.all(np.isfinite(phases)):
            raise ConfigError(f"start phase must be in [0, 1], got {show(phases)}")
        self.time[envs], self.steps[envs] = phases * self.clip.duration, 0
        self.ref_rot3[envs], self.ref_rot4[envs] = np.eye(3), np.eye(4)
        self.ref_translation[envs], self.ref_yaw[envs] = 0.0, 0.0
        ref, where = self._reference(envs)
        self.cycle[envs] = where[3]
        for row, i in enumerate(envs.tolist()):
            self.worlds[i].set_state(
                ref.root_pos[row], ref.root_quat[row], ref.root_vel[row], ref.root_ang_vel[row],
                ref.joint_quats[row], ref.joint_angles[row], ref.joint_ang_vels[row], ref.joint_angle_vels[row],
            )
        sim = self._read(envs)
        return self._observe(envs, sim, ref)

    def step(self, actions: np.ndarray, envs: np.ndarray | None = None):
        """Step envs (all by default) with actions (len(envs), A).

        Returns obs (n, O) float32, rewards (n,), terminated (n,), truncated (n,), and a dict of
        per-env arrays: reward_terms (n, 5), joint_angle_error, end_effector_error, phase, fell.
        """
        envs = np.arange(self.num_envs) if envs is None else np.asarray(envs)
        quats, angles = self.pd_targets(actions, envs)
        quats, angles = quats.tolist(), angles.tolist()
        for row, i in enumerate(envs.tolist()):
            world = self.worlds[i]
            world.set_pd_targets(quats[row], angles[row])
            world.step_physics(self.substeps)
        self.time[envs] += self.dt
        self.steps[envs] += 1

        sim = self._read(envs)
        where = self.motion.locate_batch(self.time[envs])
        if self.sync_reference:
            for row in np.flatnonzero(where[3] != self.cycle[envs]).tolist():
                self._sync(int(envs[row]), sim.root_pos[row], sim.root_quat[row])
        self.cycle[envs] = where[3]
        ref, _ = self._reference(envs, where)

        to_heading, to_heading_rot = quat.inverse_heading_batch(sim.root_quat, self.up_axis)
        rewards, terms, tracking = self.reward_fn(sim, ref, self.end_effectors_rel(sim, to_heading), self.com_vel(sim))
        drifted = self._drifted(envs, where, sim) if self.training and self.pose_termination else None
        obs = self._observe(envs, sim, ref, to_heading, to_heading_rot)

        # a blown-up simulation (non-finite state) ends its episode as a failure, with finite numbers
        broken = ~np.isfinite(sim.flat).all(axis=1)
        if broken.any():
            rewards[broken], obs[broken], terms[broken] = 0.0, 0.0, 0.0
        fell = broken.copy()
        if drifted is not None:
            fell |= drifted
        if self.early_termination:
            for row, i in enumerate(envs.tolist()):
                fell[row] |= self._terminal_contact[self.worlds[i].ground_contact_links()].any()
        clip_over = (self.time[envs] >= self.clip.duration - 1e-9) if self.clip.loop == "none" else False
        terminated = fell | clip_over
        truncated = ~terminated & ((self.steps[envs] >= self.max_steps) | self._capped(envs))
        info = {"reward_terms": terms, "phase": ref.phase, "fell": fell, **tracking}
        return obs, rewards, terminated, truncated, info

    def pd_targets(self, actions: np.ndarray, envs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """PD targets of actions (n, A): spherical joint quaternions (n, S, 4) and revolute angles (n, R).

        absolute: the action is the target pose (exp map per spherical joint, angle per revolute one).
        residual: the action is an offset from the reference pose at t + dt, composed on the right
        (q_target = q_ref * exp(a)) for spherical joints and added for revolute ones.
        """
        n = len(envs)
        actions = np.asarray(actions, dtype=np.float64)
        if self.action_mode == "residual":
            offsets = np.clip(actions, self.action_low, self.action_high)
            quats = quat.multiply(self._next_joint_quats[envs],
                                  quat.from_expmap(offsets[:, self.sph_action].reshape(n, -1, 3)))
            angles = self._next_joint_angles[envs] + offsets[:, self.rev_action]
            return quats, np.clip(angles, self.target_low[self.rev_action], self.target_high[self.rev_action])
        actions = np.clip(actions, self.target_low, self.target_high)
        return quat.from_expmap(actions[:, self.sph_action].reshape(n, -1, 3)), actions[:, self.rev_action]

    def reference_actions(self, envs: np.ndarray | None = None) -> np.ndarray:
        """Actions whose PD targets are the reference pose at t + 1/control_hz (zeros for residual actions)."""
        envs = np.arange(self.num_envs) if envs is None else np.asarray(envs)
        if self.action_mode == "residual":
            return np.zeros((len(envs), len(self.action_low)))
        s = self.clip.sample(self.time[envs] + self.dt)
        action = np.empty((len(envs), len(self.action_low)))
        action[:, self.sph_action] = quat.to_expmap(s.joint_quats).reshape(len(envs), -1)
        action[:, self.rev_action] = s.joint_angles
        return np.clip(action, self.target_low, self.target_high)

    def close(self):
        for world in self.worlds:
            world.close()

    # ------------------------------------------------------------ internals

    def _read(self, envs: np.ndarray) -> SimBatch:
        values = [self.worlds[i].state_values() for i in envs.tolist()]
        flat = np.fromiter(chain.from_iterable(values), np.float64, len(values) * self._state_size)
        flat = flat.reshape(len(values), -1)
        self.sim = self.worlds[0].batch_views(flat)
        return self.sim

    def _reference(self, envs: np.ndarray, where=None):
        where = where if where is not None else self.motion.locate_batch(self.time[envs])
        ref = self.motion.at_batch(where, self.ref_rot3[envs], self.ref_rot4[envs], self.ref_translation[envs])
        self.ref = ref
        return ref, where

    def _sync(self, index: int, sim_root_pos, sim_root_quat):
        yaw, translation = self.motion.sync_transform(self.time[index], sim_root_pos, sim_root_quat)
        yaw_q = quat.yaw_quat(yaw, self.up_axis)
        self.ref_yaw[index] = yaw
        self.ref_rot3[index] = quat.matrix(yaw_q)
        self.ref_rot4[index] = quat.left_matrix(yaw_q)
        self.ref_translation[index] = translation

    def com_vel(self, sim: SimBatch) -> np.ndarray:
        """Whole-body centre-of-mass velocities (K, 3)."""
        return self._link_mass_share @ sim.link_vel + self._base_mass_share * sim.root_vel

    def end_effectors_rel(self, sim: SimBatch, to_heading: np.ndarray) -> np.ndarray:
        """End effectors relative to the root in its heading frame, height above the ground (K, E, 3)."""
        ee = sim.link_pos[:, self._ee_links]
        rel = (ee - sim.root_pos[:, None]) @ to_heading.transpose(0, 2, 1)
        rel[..., self.up_axis] = ee[..., self.up_axis]
        return rel

    def _observe(self, envs, sim, ref, to_heading=None, to_heading_rot=None):
        if to_heading is None:
            to_heading, to_heading_rot = quat.inverse_heading_batch(sim.root_quat, self.up_axis)
        obs = observe(ref.phase, sim, self.up_axis, to_heading, to_heading_rot)
        if not self._future_steps:
            return obs
        frames = []
        for j in self._future_steps:
            where = self.motion.locate_batch(self.time[envs] + j * self.dt)
            future = self.motion.at_batch(where, self.ref_rot3[envs], self.ref_rot4[envs], self.ref_translation[envs])
            if j == 1:
                self._next_joint_quats[envs] = future.joint_quats
                self._next_joint_angles[envs] = future.joint_angles
            if j in self.target_obs_steps:
                frames.append(target_frame(future, sim.root_pos, self.up_axis, to_heading, to_heading_rot))
        if not frames:
            return obs
        return np.concatenate([obs] + frames, axis=1, dtype=np.float32)

    def _drifted(self, envs, where, sim) -> np.ndarray:
        """Envs whose root or any link COM is farther than `pose_termination` m from the reference's."""
        ref_links = self.motion.link_positions(where, self.ref_rot3[envs], self.ref_translation[envs])
        link_dist = np.linalg.norm(sim.link_pos - ref_links, axis=-1).max(axis=1)
        root_dist = np.linalg.norm(sim.root_pos - self.ref.root_pos, axis=-1)
        return np.maximum(link_dist, root_dist) > self.pose_termination

    def spaces(self):
        """(observation_space, action_space) of one env, as gymnasium Boxes."""
        import gymnasium as gym

        obs_low = np.full(self.observation_size, -np.inf, np.float32)
        obs_high = np.full(self.observation_size, np.inf, np.float32)
        obs_low[0], obs_high[0] = 0.0, 1.0  # the phase
        return (
            gym.spaces.Box(obs_low, obs_high, dtype=np.float32),
            gym.spaces.Box(self.action_low.astype(np.float32), self.action_high.astype(np.float32), dtype=np.float32),
        )

    def reference_yaw_quat(self, index: int) -> np.ndarray:
        return quat.yaw_quat(self.ref_yaw[index], self.up_axis)

    # DeepMimic's horizon curriculum: training episodes end (truncated) after this many steps; None: time limit
    _training_cap_steps: int | None = None

    def set_training_time_cap(self, seconds: float | None) -> None:
        """Cap training episodes (while `training` is set) at ceil(seconds * control_hz) steps: reaching it
        sets truncated=True, as the time limit does. None removes the cap; evaluation never has one."""
        try:
            s = math.nan if seconds is None or isinstance(seconds, bool) else float(seconds)
        except (TypeError, ValueError):
            s = math.nan
        if seconds is not None and not s > 0:
            raise ConfigError(f"training time cap must be a positive number of seconds or None, got {show(seconds)}")
        self._training_cap_steps = None if seconds is None or s == math.inf else max(
            1, int(math.ceil(s * self.control_hz - 1e-9)))

    def _capped(self, envs: np.ndarray):
        if self._training_cap_steps is None or not self.training:
            return False
        return self.steps[envs] >= self._training_cap_steps


def check_learning_options(action_mode, target_obs_steps, pose_termination):
    """Validated (action_mode, target_obs_steps as a tuple, pose_termination or None)."""
    if action_mode not in ACTION_MODES:
        raise ConfigError(str(unknown_name("action_mode", str(action_mode), ACTION_MODES)))
    if target_obs_steps is None or target_obs_steps is False:
        target_obs_steps = ()
    if isinstance(target_obs_steps, int) and not isinstance(target_obs_steps, bool):
        target_obs_steps = (target_obs_steps,)
    if isinstance(target_obs_steps, str):
        target_obs_steps = [p for p in target_obs_steps.strip("[]() ").replace(",", " ").split()]
    try:
        steps = tuple(int(v) for v in target_obs_steps)
        ok = all(float(v) == int(float(v)) for v in target_obs_steps)
    except (TypeError, ValueError):
        steps, ok = (), False
    if not ok or any(v < 1 for v in steps) or len(set(steps)) != len(steps):
        raise ConfigError(f"target_obs_steps must be distinct positive control steps such as [1, 2, 3], "
                          f"got {show(target_obs_steps)}")
    if pose_termination is not None:
        try:
            pose_termination = float(pose_termination)
        except (TypeError, ValueError):
            pose_termination = math.nan
        if not pose_termination > 0 or not math.isfinite(pose_termination):
            raise ConfigError(f"pose_termination must be a positive distance in metres or None, "
                              f"got {show(pose_termination)}")
    return action_mode, steps, pose_termination


def check_options(sim_hz, control_hz, time_limit, start_phase):
    if not isinstance(control_hz, int) or control_hz <= 0:
        raise ConfigError(f"control_hz must be a positive integer, got {show(control_hz)}")
    if not isinstance(sim_hz, int) or sim_hz <= 0 or sim_hz % control_hz:
        raise ConfigError(f"sim_hz must be a positive multiple of control_hz ({show(control_hz)}), got {show(sim_hz)}")
    if not time_limit > 0:
        raise ConfigError(f"time_limit must be positive, got {show(time_limit)}")
    if start_phase is not None and not 0.0 <= start_phase <= 1.0:
        raise ConfigError(f"start_phase must be in [0, 1] or None, got {show(start_phase)}")

