"""`awr_mimic/Mimic-v0`: DeepMimic-style motion imitation in pybullet.

One step = one control step (1/control_hz s): the action sets stable-PD
targets, physics runs `sim_hz / control_hz` substeps with PD applied before
each, and only then are the reward and the observation computed.

Action (``action_mode="absolute"``, DeepMimic's): PD targets, one number per actuated DoF in the character's
joint order: an exponential map (axis * angle, rad) for each spherical joint,
an angle (rad) for each revolute joint. The action space is [-pi, pi] on every
component, centred on the rest pose (every joint angle zero); targets are
clipped to each joint's range (exp-map components to [-pi, pi], revolute
angles to the URDF limits). Learners normalise with the bounds' centre and
half-range, so a zero policy output holds the body straight.
With ``action_mode="residual"`` the action is an offset from the reference pose at t + dt
(exp map composed on the right of each spherical joint's reference rotation, added to each
revolute angle): a zero output tracks the reference open-loop.

Options for learning (docs/environment.md): ``target_obs_steps=[1, 2, 3]`` appends the reference
at those future control steps to the observation (MimicKit); ``pose_termination=1.0`` ends a
training episode as a failure when any body drifts more than 1 m from the reference (MimicKit);
it never applies to evaluation episodes (``batch.training = False``). ``pd_target_velocity="reference"``
gives stable PD the reference's joint velocities at t + dt as its target velocities, where DeepMimic's
are zero (``"zero"``, the default): zero targets damp every fast motion towards rest.

Observation: see `awr_mimic.envs.observation`.

Episodes: reference state initialisation (a uniform random phase with the
reference pose and velocities, or `start_phase`); early termination
(`terminated=True`, a failure) when a link not allowed to touch the ground
does; a non-looping clip's end also sets `terminated=True` (no reward is left);
the time limit (20 s) sets `truncated=True`.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from awr_mimic.envs.batch import DEFAULT_CONTROL_HZ, DEFAULT_SIM_HZ, MimicBatch
from awr_mimic.envs.reward import TERM_NAMES
from awr_mimic.errors import ConfigError


# What `awr-mimic train --character ... --clip ...` adds to the env options (any --env-option wins).
# The env's own defaults stay DeepMimic's; these make imitation learnable in hours on a small
# machine, each measured on its own (docs/learning.md, "Imitation defaults").
TRAINING_OPTIONS = {"action_mode": "residual", "pd_target_velocity": "reference"}


class MimicEnv(gym.Env):
    """One imitation env: a `MimicBatch` of one, behind the gymnasium API."""

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
        action_mode: str = "absolute",
        target_obs_steps=(),
        pose_termination: float | None = None,
        pd_target_velocity: str = "zero",
        render_mode: str | None = None,
        render_size: tuple[int, int] = (640, 480),
    ):
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.batch = b = MimicBatch(
            1, character=character, clip=clip, sim_hz=sim_hz, control_hz=control_hz, time_limit=time_limit,
            start_phase=start_phase, early_termination=early_termination, sync_reference=sync_reference,
            action_mode=action_mode, target_obs_steps=target_obs_steps, pose_termination=pose_termination,
            pd_target_velocity=pd_target_velocity,
        )
        self.character, self.clip, self.options = b.character, b.clip, b.options
        self.sim_hz, self.control_hz, self.substeps, self.dt = b.sim_hz, b.control_hz, b.substeps, b.dt
        self.time_limit, self.start_phase, self.horizon_steps = b.time_limit, start_phase, b.horizon_steps
        self.up_axis = b.up_axis
        self.world = b.worlds[0]
        self.reference = EnvReference(b)
        self.render_mode, self.render_size = render_mode, tuple(render_size)
        self.observation_space, self.action_space = b.spaces()

    @property
    def time(self) -> float:
        return float(self.batch.time[0])

    @property
    def steps(self) -> int:
        return int(self.batch.steps[0])

    # ------------------------------------------------------------ gym API

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        phase = (options or {}).get("phase", self.start_phase)
        if phase is None:
            phase = self.np_random.uniform(0.0, 1.0)
        obs = self.batch.reset(0, phase)[0]
        return obs, {"phase": self.batch.ref.phase.item(0), "time": self.batch.time.item(0)}

    @property
    def training(self) -> bool:
        return self.batch.training

    @training.setter
    def training(self, value: bool) -> None:
        self.batch.training = bool(value)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.batch.step(np.asarray(action)[None])
        terms = info["reward_terms"][0].tolist()
        info = {
            "phase": info["phase"].item(0),
            "time": self.batch.time.item(0),
            "reward_terms": dict(zip(TERM_NAMES, terms)),
            "joint_angle_error": info["joint_angle_error"].item(0),
            "end_effector_error": info["end_effector_error"].item(0),
            "fell": info["fell"].item(0),
        }
        return obs[0], reward.item(0), terminated.item(0), truncated.item(0), info

    def close(self):
        self.batch.close()

    # ------------------------------------------------------------ helpers

    def reference_action(self) -> np.ndarray:
        """The action whose PD targets are the reference pose at t + 1/control_hz."""
        return self.batch.reference_actions()[0].astype(np.float32)

    def reference_link_frames(self):
        """World link frames of the reference now (for viewers)."""
        return self.reference.link_frames(self.time)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from awr_mimic.envs.camera import render_rgb

        return render_rgb(self.world, self.batch.sim.root_pos[0], self.up_axis, *self.render_size)


class EnvReference:
    """The reference of a single env as viewers see it: its clip, and its clip-to-world map."""

    def __init__(self, batch: MimicBatch):
        self._batch = batch
        self.clip = batch.clip
        self.motion = batch.motion

    @property
    def yaw_quat(self) -> np.ndarray:
        return self._batch.reference_yaw_quat(0)

    @property
    def translation(self) -> np.ndarray:
        return self._batch.ref_translation[0].copy()

    def link_frames(self, t: float):
        return self.motion.link_frames(t, self.yaw_quat, self.translation)
