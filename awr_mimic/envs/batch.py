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
from awr_mimic.envs.observation import heading_frame, observation_size, observe, target_frame, target_frame_size
from awr_mimic.envs.reference import RefBatch, ReferenceMotion
from awr_mimic.envs.reward import ImitationReward
from awr_mimic.envs.world import SimBatch, World
from awr_mimic.errors import ConfigError, show, unknown_name

# control steps of reference an env caches at a time (plus the future steps it reads): fewer at a
# reset (many episodes are short, and the rows computed cost time in proportion), more after
_CACHE_FIRST = 12
_CACHE_STEPS = 48
DEFAULT_SIM_HZ = 240
DEFAULT_CONTROL_HZ = 30
ACTION_MODES = ("absolute", "residual")
PD_TARGET_VELOCITIES = ("zero", "reference")


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
        pd_target_velocity: str = "zero",
    ):
        check_options(sim_hz, control_hz, time_limit, start_phase)
        action_mode, target_obs_steps, pose_termination = check_learning_options(
            action_mode, target_obs_steps, pose_termination, pd_target_velocity)
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
        # "reference": stable PD drives each joint towards the reference's velocity at t + dt as well as
        # its pose (DeepMimic's targets are velocity zero, which damps every fast motion towards rest)
        self.pd_target_velocity = pd_target_velocity
        self.training = True
        self.options = dict(
            character=character, clip=clip, sim_hz=self.sim_hz, control_hz=self.control_hz,
            time_limit=self.time_limit, start_phase=start_phase, early_termination=early_termination,
            sync_reference=sync_reference, action_mode=action_mode, target_obs_steps=list(target_obs_steps),
            pose_termination=pose_termination, pd_target_velocity=pd_target_velocity,
        )
        self.up_axis = self.character.up_axis
        self.worlds = [World(self.character, self.sim_hz) for _ in range(num_envs)]
        world = self.worlds[0]
        self.layout = world.layout
        self.motion = ReferenceMotion(self.character, self.clip)
        self.reward_fn = ImitationReward(
            self.character.reward_weights, self.character.root_reward_weight, world.is_spherical, world.layout,
            len(self.character.end_effector_links),
        )
        skeleton = self.character.skeleton
        self.num_links = skeleton.num_links
        # whole-body COM velocity = link masses . link COM velocities (+ the base)
        self._link_mass_share = skeleton.masses / skeleton.total_mass
        self._base_mass_share = skeleton.base_mass / skeleton.total_mass
        self._ee_links = np.asarray(self.character.end_effector_links, dtype=np.intp)  # np.take wants an array
        self._terminal_contact = np.zeros(skeleton.num_links + 1, dtype=bool)  # index -1 = base
        self._terminal_contact[self.character.termination_links(self.clip.name)] = True
        self._terminal_contact_list = self._terminal_contact.tolist()

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
        self._rev_low, self._rev_high = self.target_low[self.rev_action], self.target_high[self.rev_action]
        self._action_order = np.concatenate([self.sph_action, self.rev_action])
        self._ordered_target_low = self.target_low[self._action_order]
        self._ordered_target_high = self.target_high[self._action_order]
        self._ordered_action_low = self.action_low[self._action_order]
        self._ordered_action_high = self.action_high[self._action_order]
        # the root's height in a flat state (K, 1): an end effector's height = its height above the root + this
        self._root_up = slice(world.layout.root_pos.start + self.up_axis, world.layout.root_pos.start + self.up_axis + 1)
        # whole-body COM velocity as flat state @ this: link masses . link COM velocities (+ the base)
        self._com_weights = np.zeros((world.state_size, 3))
        for i, share in enumerate(self._link_mass_share):
            start = world._links.start + 3 * (skeleton.num_links + i)
            self._com_weights[start : start + 3] = share * np.eye(3)
        self._com_weights[world.layout.root_vel] += self._base_mass_share * np.eye(3)
        self.observation_size = observation_size(skeleton.num_links)
        self.observation_size += len(target_obs_steps) * target_frame_size(
            int(np.sum(world.is_spherical)), int(np.sum(~np.asarray(world.is_spherical))), len(self._ee_links))
        # future reference steps the observation needs (residual actions and reference PD velocities need t + dt)
        needs_next = action_mode == "residual" or pd_target_velocity == "reference"
        self._future_steps = sorted(set(target_obs_steps) | ({1} if needs_next else set()))

        # steps in a full-horizon episode from phase 0: the normaliser of returns
        horizon = self.time_limit if self.clip.loop == "wrap" else min(self.time_limit, self.clip.duration)
        self.horizon_steps = max(1, int(math.ceil(horizon * self.control_hz - 1e-9)))
        self.max_steps = int(math.ceil(self.time_limit * self.control_hz - 1e-9))

        K = num_envs
        self.time = np.zeros(K)
        self.steps = np.zeros(K, dtype=np.int64)
        self.cycle = np.zeros(K, dtype=np.int64)
        # per env clip-to-world map of the reference: yaw rotation about the up axis, translation
        self.ref_translation = np.zeros((K, 3))
        self.ref_yaw = np.zeros(K)
        # the same map in the form the reference takes it (ReferenceMotion.world_map), per env
        self._identity_map = self.motion.world_map()
        self._maps = np.tile(self._identity_map, (K, 1, 1))
        self.sim: SimBatch | None = None  # state after the last reset/step of each env
        # residual actions: the reference joint targets at t + dt, per env
        self._next_joint_quats = np.tile(quat.IDENTITY, (K, int(np.sum(world.is_spherical)), 1))
        self._next_joint_angles = np.zeros((K, len(self.rev_action)))
        # reference PD velocities: the reference joint velocities at t + dt, flat as World.set_pd_flat
        # takes them (3 per spherical joint, then 1 per revolute one), per env
        self._next_joint_vels = np.zeros((K, 3 * int(np.sum(world.is_spherical)) + len(self.rev_action)))
        self.ref = None  # the reference of the last reset/step (its arrays may be views of the cache below)
        self._state_size = world.state_size
        self._root_quat = world.layout.root_quat  # in a state_values list
        self._all_envs = list(range(K))
        # a non-looping clip's end terminates the episode (see step)
        self._clip_end = self.clip.duration - 1e-9 if self.clip.loop == "none" else None
        # PD targets of a step, flat as World.set_pd_flat takes them: spherical quaternions, then angles
        self._num_sph = int(np.sum(world.is_spherical))
        self._target_size = world.target_size
        # The reference, cached per env for its next control steps (ReferenceMotion.rows), in clip
        # space and mapped to the world by the env's current map (mapped again when a re-sync
        # changes the map): a step reads its rows (now and the future steps it needs) with one
        # gather (a view for a single env) instead of locating and interpolating the clip. Rows are
        # computed for the times the env will have (time += dt, repeated), so they are the numbers
        # a step would compute; a time set another way is computed afresh (see _cached).
        self._row_offsets = np.array([0] + self._future_steps)
        self._offsets_contiguous = bool(np.all(np.diff(self._row_offsets) == 1))
        last = self._future_steps[-1] if self._future_steps else 0
        self._chunk, self._first_chunk = _CACHE_STEPS + last, min(_CACHE_FIRST, _CACHE_STEPS) + last
        self._cache_clip = np.zeros((K * self._chunk, self.motion.row_size))  # clip space
        self._cache = np.zeros_like(self._cache_clip)  # the same rows mapped to the world (each env's map)
        self._cache_next = [0] * K  # the row of each env's current time
        self._cache_end = [0] * K  # refill when the current row reaches this
        self._time_column = self.motion.meta + ReferenceMotion.ROW_TIME
        self._cycle_column = self.motion.meta + ReferenceMotion.ROW_CYCLE
        self._tracked_size = world.layout.size

    # ------------------------------------------------------------ episodes

    def reset(self, envs, phases) -> np.ndarray:
        """Put envs (an index or indices) on the reference at `phases` (RSI); returns their observations."""
        if isinstance(envs, (int, np.integer)) and isinstance(phases, (float, int)):
            return self._reset_one(int(envs), float(phases))
        envs = np.atleast_1d(np.asarray(envs, dtype=np.int64))
        phases = np.asarray(phases, dtype=np.float64)
        if phases.shape != envs.shape:
            phases = np.full(envs.shape, phases) if phases.ndim == 0 else np.broadcast_to(phases, envs.shape)
        # min and max are NaN if any phase is
        if phases.size and not (np.minimum.reduce(phases, axis=None) >= 0.0
                                and np.maximum.reduce(phases, axis=None) <= 1.0):
            raise ConfigError(f"start phase must be in [0, 1], got {show(phases)}")
        rows = envs.tolist()
        self.time[envs] = time = phases * self.clip.duration
        self.steps[envs] = 0
        self.ref_translation[envs], self.ref_yaw[envs] = 0.0, 0.0
        self._maps[envs] = self._identity_map
        cached = self._refill(rows, time, self._first_chunk, identity=True)[:, self._row_offsets]
        self.cycle[envs] = cached[:, 0, self._cycle_column]
        ref, futures = self._reference(cached)
        for row, i in enumerate(rows):
            self.worlds[i].set_state_row(cached[row, 0, : self._tracked_size].tolist())
        sim, heading = self._read(rows)
        return self._observe(envs, sim, ref, futures, heading, heading_frame(sim, *heading))

    def _reset_one(self, i: int, phase: float) -> np.ndarray:
        """`reset` of one env: Python numbers and views where the general path indexes arrays."""
        if not 0.0 <= phase <= 1.0:  # False for NaN
            raise ConfigError(f"start phase must be in [0, 1], got {show(np.array([phase]))}")
        self.time[i] = time = phase * self.clip.duration
        self.steps[i] = 0
        self.ref_translation[i], self.ref_yaw[i] = 0.0, 0.0
        self._maps[i] = self._identity_map
        self._refill([i], time, self._first_chunk, identity=True)
        cached = self._cached([i], time)
        self.cycle[i] = cached.item(0, 0, self._cycle_column)
        ref, futures = self._reference(cached)
        self.worlds[i].set_state_row(cached[0, 0, : self._tracked_size].tolist())
        sim, heading = self._read([i])
        return self._observe(slice(i, i + 1), sim, ref, futures, heading, heading_frame(sim, *heading))

    def step(self, actions: np.ndarray, envs: np.ndarray | None = None):
        """Step envs (all by default) with actions (len(envs), A).

        Returns obs (n, O) float32, rewards (n,), terminated (n,), truncated (n,), and a dict of
        per-env arrays: reward_terms (n, 5), joint_angle_error, end_effector_error, phase, fell.
        """
        # every env: index the per-env arrays with a slice (views) rather than a list of indices
        if envs is None:
            sel, rows = slice(None), self._all_envs
        else:
            sel = np.asarray(envs)
            rows = sel.tolist()
        n = len(rows)
        targets = self._targets(actions, sel, n).tolist()
        velocities = (self._next_joint_vels[sel].tolist() if self.pd_target_velocity == "reference"
                      else [None] * n)
        worlds, substeps = self.worlds, self.substeps
        next_row, end, refill = self._cache_next, self._cache_end, []
        for values, vels, i in zip(targets, velocities, rows):
            world = worlds[i]
            world.set_pd_flat(values, vels)
            world.step_physics(substeps)
            next_row[i] += 1
            if next_row[i] >= end[i]:
                refill.append(i)
        if n == 1:  # one env: its time, step count and loop cycle as Python numbers, and views
            i = rows[0]
            sel = slice(i, i + 1)
            self.time[i] = time = self.time.item(i) + self.dt
            self.steps[i] = step_count = self.steps.item(i) + 1
            if refill:
                self._refill(refill, time)
            sim, heading = self._read(rows)
            cached = self._cached(rows, time)
            cycle = cached.item(0, 0, self._cycle_column)
            if cycle != self.cycle.item(i):
                if self.sync_reference:
                    self._sync(i, sim.root_pos[0], sim.root_quat[0])
                self.cycle[i] = cycle
                cached = self._cached(rows, time)  # mapped again if the reference was re-synced
        else:
            self.time[sel] += self.dt
            self.steps[sel] += 1
            time = self.time[sel]
            if refill:
                self._refill(refill, self.time[refill])
            sim, heading = self._read(rows)
            cached = self._cached(rows, time)
            cycle = cached[:, 0, self._cycle_column]
            changed = cycle != self.cycle[sel]
            if np.logical_or.reduce(changed):
                if self.sync_reference:
                    for row in np.flatnonzero(changed).tolist():
                        self._sync(rows[row], sim.root_pos[row], sim.root_quat[row])
                self.cycle[sel] = cycle
                cached = self._cached(rows, time)  # mapped again where the reference was re-synced
        ref, futures = self._reference(cached)

        frame = heading_frame(sim, *heading)
        # the simulated row the reward compares with the reference's: end effectors (heading
        # frame, height above the ground), COM velocity and rotation angles, into their slots
        flat, world = sim.flat, worlds[0]
        ee = flat[:, world.end_effectors].reshape(n, -1, 3)
        np.take(frame[0], self._ee_links, axis=1, out=ee)
        ee[..., self.up_axis] += flat[:, self._root_up]
        np.matmul(flat, self._com_weights, out=flat[:, world.com_vel])
        self.reward_fn.half_angles_into(sim.quats, ref.quats, flat[:, world.rotation_angles])
        rewards, terms, tracking = self.reward_fn.from_rows(flat[:, : world.row_size], cached[:, 0, : world.row_size])
        drifted = self._drifted(sel, cached, sim) if self.training and self.pose_termination else None
        obs = self._observe(sel, sim, ref, futures, heading, frame)

        if self.early_termination:  # a ground contact of a link not allowed to touch
            terminal = self._terminal_contact_list.__getitem__  # index -1 = base
            fell = np.array([any(map(terminal, worlds[i].ground_contact_links())) for i in rows], dtype=bool)
        else:
            fell = np.zeros(n, dtype=bool)
        # a blown-up simulation (non-finite state) ends its episode as a failure, with finite numbers
        # (one sum tells whether any number is not finite; only then find which envs)
        if not math.isfinite(np.add.reduce(flat, axis=None)):
            broken = ~np.isfinite(flat).all(axis=1)
            rewards[broken], obs[broken], terms[broken] = 0.0, 0.0, 0.0
            fell |= broken
        if drifted is not None:
            fell |= drifted
        if n == 1:
            ended = fell.item(0) or (self._clip_end is not None and time >= self._clip_end)
            limit = step_count >= self.max_steps or (
                self._training_cap_steps is not None and self.training and step_count >= self._training_cap_steps)
            terminated, truncated = np.array([ended]), np.array([limit and not ended])
        else:
            terminated = fell | (time >= self._clip_end) if self._clip_end is not None else fell.copy()
            limit = self.steps[sel] >= self.max_steps
            capped = self._capped(sel)
            if capped is not False:
                limit |= capped
            truncated = limit > terminated  # reached a limit and not terminated
        info = {"reward_terms": terms, "phase": ref.phase, "fell": fell, **tracking}
        return obs, rewards, terminated, truncated, info

    def pd_targets(self, actions: np.ndarray, envs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """PD targets of actions (n, A): spherical joint quaternions (n, S, 4) and revolute angles (n, R).

        absolute: the action is the target pose (exp map per spherical joint, angle per revolute one).
        residual: the action is an offset from the reference pose at t + dt, composed on the right
        (q_target = q_ref * exp(a)) for spherical joints and added for revolute ones.
        """
        envs = np.asarray(envs)
        flat = self._targets(actions, envs, len(envs))
        return flat[:, : 4 * self._num_sph].reshape(len(envs), -1, 4), flat[:, 4 * self._num_sph :]

    def _targets(self, actions, sel, n: int) -> np.ndarray:
        """PD targets (n, 4S + R): the spherical joints' quaternions, then the revolute angles."""
        # the action's spherical components, then its revolute ones (one gather), clipped with
        # ufuncs: the same numbers as np.clip without its Python wrapper; the float64 bounds make
        # them float64, whatever the actions' type
        split = 3 * self._num_sph
        flat = np.empty((n, self._target_size))
        quats, angles = flat[:, : 4 * self._num_sph].reshape(n, -1, 4), flat[:, 4 * self._num_sph :]
        actions = np.asarray(actions).take(self._action_order, axis=1)
        if self.action_mode == "residual":
            offsets = np.minimum(np.maximum(actions, self._ordered_action_low), self._ordered_action_high)
            quat.multiply(self._next_joint_quats[sel], quat.from_expmap(offsets[:, :split].reshape(n, -1, 3)),
                          out=quats)
            np.add(self._next_joint_angles[sel], offsets[:, split:], out=angles)
            np.maximum(angles, self._rev_low, out=angles)
            np.minimum(angles, self._rev_high, out=angles)
        else:
            actions = np.minimum(np.maximum(actions, self._ordered_target_low), self._ordered_target_high)
            quat.from_expmap(actions[:, :split].reshape(n, -1, 3), out=quats)
            angles[:] = actions[:, split:]
        return flat

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

    def _read(self, rows: list):
        """The state of envs `rows` (a list of indices) as one batch, and the matrices into each
        root's heading frame (`quat.inverse_heading_batch`), from the root rotations as read."""
        worlds, size, q = self.worlds, self._state_size, self._root_quat
        if len(rows) == 1:
            values = worlds[rows[0]].state_values()
            flat = np.fromiter(values, np.float64, size).reshape(1, size)
            roots = (values[q],)
        else:
            values = [worlds[i].state_values() for i in rows]
            flat = np.fromiter(chain.from_iterable(values), np.float64, len(values) * size).reshape(len(values), size)
            roots = [v[q] for v in values]
        self.sim = SimBatch(flat, worlds[0])
        return self.sim, quat.inverse_heading_floats(roots, self.up_axis)

    def _refill(self, rows: list, times: np.ndarray, count: int | None = None, identity: bool = False) -> np.ndarray:
        """Cache the reference of envs `rows` for their next `count` control steps (default: as
        many as fit) from `times`; returns the rows mapped to the world (len(rows), count,
        row_size). identity: the envs' maps are the identity (just reset)."""
        C, count = self._chunk, count or self._chunk
        grid = np.empty((len(rows), count))
        grid[:, 0] = times
        grid[:, 1:] = self.dt
        grid = np.add.accumulate(grid, axis=1)  # left to right: the times `self.time += dt` gives
        clip_rows = self.motion.rows(grid.reshape(-1)).reshape(len(rows), count, -1)
        if identity:
            world_rows = clip_rows  # (copied into both caches below)
        else:
            world_rows = clip_rows.copy()
            self.motion.to_world(world_rows, self._maps[rows])
        last = self._row_offsets[-1]
        for r, i in enumerate(rows):
            self._cache_clip[i * C : i * C + count] = clip_rows[r]
            self._cache[i * C : i * C + count] = world_rows[r]
            self._cache_next[i] = i * C
            self._cache_end[i] = i * C + count - last
        return world_rows

    def _cached(self, rows: list, time) -> np.ndarray:
        """The cached rows (n, 1 + future steps, row_size) of envs `rows` at `time` (n,), or a float for one env."""
        next_row = self._cache_next
        if len(rows) == 1 and self._offsets_contiguous:  # a view of the cache
            start = next_row[rows[0]]
            cached = self._cache[None, start : start + len(self._row_offsets)]
            stale = cached.item(0, 0, self._time_column) != time
        else:
            cached = self._cache[np.array([next_row[i] for i in rows])[:, None] + self._row_offsets]
            stale = np.logical_or.reduce(cached[:, 0, self._time_column] != time, axis=None)
        if stale:  # a time not set by reset/step: compute afresh
            self._refill(rows, time)
            return self._cached(rows, time)
        return cached

    def _reference(self, cached: np.ndarray):
        """The reference now and at the future steps ({j: RefBatch}) from cached rows."""
        motion = self.motion
        s, meta, lay = motion.flat_size, motion.meta, motion.layout
        phase, cycle = cached[..., meta + ReferenceMotion.ROW_PHASE], cached[..., meta + ReferenceMotion.ROW_CYCLE]
        # (the phase is returned in info: a copy, as the rows may be views of the cache)
        ref = RefBatch(phase[:, 0].copy(), cycle[:, 0], cached[:, 0, :s], lay)
        if len(self._row_offsets) == 1:
            futures = {}
        else:
            futures = {j: RefBatch(phase[:, c], cycle[:, c], cached[:, c, :s], lay)
                       for c, j in enumerate(self._future_steps, start=1)}
        self.ref = ref
        return ref, futures

    def _sync(self, index: int, sim_root_pos, sim_root_quat):
        """Re-sync env `index`'s clip-to-world map at a new loop cycle, from its cached row of now
        (clip space), and map its cached rows from now on again."""
        now, lay = self._cache_next[index], self.motion.layout
        clip_row = self._cache_clip[now]
        yaw, translation = self.motion.sync_transform(clip_row[lay.root_pos], clip_row[lay.root_quat],
                                                      sim_root_pos, sim_root_quat)
        yaw_q = quat.yaw_quat(yaw, self.up_axis)
        self.ref_yaw[index] = yaw
        self.ref_translation[index] = translation
        self._maps[index] = self.motion.world_map(yaw_q, translation)
        block = slice(now, (index + 1) * self._chunk)  # the rows before now are not read again
        rows = self._cache_clip[block][None].copy()
        self.motion.to_world(rows, self._maps[index : index + 1])
        self._cache[block] = rows[0]

    def com_vel(self, sim: SimBatch) -> np.ndarray:
        """Whole-body centre-of-mass velocities (K, 3)."""
        return self._link_mass_share @ sim.link_vel + self._base_mass_share * sim.root_vel

    def end_effectors_rel(self, sim: SimBatch, to_heading: np.ndarray) -> np.ndarray:
        """End effectors relative to the root in its heading frame, height above the ground (K, E, 3)."""
        rel = heading_frame(sim, to_heading, np.tile(np.eye(4), (len(sim), 1, 1)))[0][:, self._ee_links]
        rel[..., self.up_axis] = sim.link_pos[:, self._ee_links, self.up_axis]
        return rel

    def _observe(self, envs, sim, ref, futures, heading, frame):
        obs = observe(ref.phase, sim, self.up_axis, *heading, frame)
        if not futures:
            return obs
        if 1 in futures:  # residual actions: the reference joint targets at t + dt
            self._next_joint_quats[envs] = futures[1].joint_quats
            self._next_joint_angles[envs] = futures[1].joint_angles
            if self.pd_target_velocity == "reference":
                nxt, split = futures[1], 3 * self._num_sph
                self._next_joint_vels[envs, :split] = nxt.joint_ang_vels.reshape(len(nxt.flat), -1)
                self._next_joint_vels[envs, split:] = nxt.joint_angle_vels
        if not self.target_obs_steps:
            return obs
        frames = [target_frame(futures[j], sim.root_pos, self.up_axis, *heading) for j in self.target_obs_steps]
        return np.concatenate([obs] + frames, axis=1, dtype=np.float32)

    def _drifted(self, envs, cached, sim) -> np.ndarray:
        """Envs whose root or any link COM is farther than `pose_termination` m from the reference's."""
        meta = self.motion.meta
        where = (cached[:, 0, meta + ReferenceMotion.ROW_K].astype(np.int64), cached[:, 0, meta + ReferenceMotion.ROW_ALPHA],
                 None, cached[:, 0, meta + ReferenceMotion.ROW_CYCLE])
        half = 0.5 * self.ref_yaw[envs]
        yaw_quats = np.zeros((len(half), 4))
        yaw_quats[:, self.up_axis], yaw_quats[:, 3] = np.sin(half), np.cos(half)
        ref_links = self.motion.link_positions(where, quat.matrices(yaw_quats), self.ref_translation[envs])
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


def check_learning_options(action_mode, target_obs_steps, pose_termination, pd_target_velocity="zero"):
    """Validated (action_mode, target_obs_steps as a tuple, pose_termination or None); pd_target_velocity
    is checked too."""
    if action_mode not in ACTION_MODES:
        raise ConfigError(str(unknown_name("action_mode", str(action_mode), ACTION_MODES)))
    if pd_target_velocity not in PD_TARGET_VELOCITIES:
        raise ConfigError(str(unknown_name("pd_target_velocity", str(pd_target_velocity), PD_TARGET_VELOCITIES)))
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

