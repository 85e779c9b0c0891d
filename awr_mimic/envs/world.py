"""The pybullet world of one environment: ground, character and stable PD.

Per-substep work is only physics: the PD call's arguments are built once per
control step (`set_pd_targets`) and reused for every substep, since
pybullet's STABLE_PD_CONTROL torques last for one `stepSimulation` only.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from awr_mimic.anim import quat
from awr_mimic.anim.skeleton import SPHERICAL
from awr_mimic.characters.character import Character, p, quiet_stdout
from awr_mimic.envs.layout import StateLayout

import pybullet_data

FRICTION = 0.9
SOLVER_ITERATIONS = 10
GRAVITY = 9.8


class World:
    def __init__(self, character: Character, sim_hz: int, fixed_base: bool = False):
        self.character = character
        self.sim_hz = sim_hz
        with quiet_stdout():  # connect prints pybullet's build time
            self.client = p.connect(p.DIRECT)
        cid = self.client
        up = character.up_axis
        gravity = [0.0, 0.0, 0.0]
        gravity[up] = -GRAVITY
        p.setGravity(*gravity, physicsClientId=cid)
        p.setTimeStep(1.0 / sim_hz, physicsClientId=cid)
        # sorted overlapping pairs: contacts are solved in an order that does not depend on the
        # episodes before, so a resumed run (fresh worlds) continues exactly
        p.setPhysicsEngineParameter(numSolverIterations=SOLVER_ITERATIONS, deterministicOverlappingPairs=1,
                                    physicsClientId=cid)
        # plane_implicit is z-up; tip it onto the xz plane for y-up characters
        plane_quat = p.getQuaternionFromEuler([-np.pi / 2, 0, 0]) if up == 1 else [0, 0, 0, 1]
        with quiet_stdout():
            self.ground = p.loadURDF(
                str(pybullet_data.getDataPath() + "/plane_implicit.urdf"),
                [0, 0, 0],
                plane_quat,
                useMaximalCoordinates=True,
                physicsClientId=cid,
            )
        p.changeDynamics(self.ground, -1, lateralFriction=FRICTION, physicsClientId=cid)
        self.body = character.load(cid, fixed_base=fixed_base)
        skeleton = character.skeleton
        self.num_links = skeleton.num_links
        self.link_indices = list(range(self.num_links))
        for link in [-1] + self.link_indices:
            p.changeDynamics(
                self.body, link, lateralFriction=FRICTION, linearDamping=0.0, angularDamping=0.0, physicsClientId=cid
            )

        layout = character.layout
        self.joint_indices = [int(i) for i, _, _ in layout.joints]
        self.is_spherical = np.array([t == SPHERICAL for _, t, _ in layout.joints])
        self._disable_default_motors()

        kp, kd, torque_limit = character.pd_gains
        self._kp = kp.tolist()
        self._kd = kd.tolist()
        self._forces = [[f] * 3 if s else [f] for f, s in zip(torque_limit, self.is_spherical)]
        self._zero_vel = [[0.0] * 3 if s else [0.0] for s in self.is_spherical]
        self._targets = None
        self._pushes = []
        self._held = []  # [link, force, substeps left]: hold_force
        self._is_spherical_list = self.is_spherical.tolist()
        sph = np.flatnonzero(self.is_spherical)
        rev = np.flatnonzero(~self.is_spherical)
        self.num_spherical, self.num_revolute = len(sph), len(rev)
        self._state_layout()
        self._base_com_offset = skeleton.base_inertial_pos
        self._base_com_quat = skeleton.base_inertial_quat
        self._has_base_offset = bool(np.any(self._base_com_offset != 0) or np.any(self._base_com_quat != quat.IDENTITY))

    def _disable_default_motors(self):
        cid = self.client
        for j, spherical in zip(self.joint_indices, self.is_spherical):
            if spherical:
                p.setJointMotorControlMultiDof(
                    self.body, j, p.POSITION_CONTROL, targetPosition=[0, 0, 0, 1],
                    positionGain=0, velocityGain=1, force=[0, 0, 0], physicsClientId=cid,
                )
            else:
                p.setJointMotorControl2(self.body, j, p.VELOCITY_CONTROL, force=0, physicsClientId=cid)

    def close(self):
        if self.client is not None:
            p.disconnect(self.client)
            self.client = None

    # ------------------------------------------------------------ control

    def set_pd_targets(self, joint_quats: np.ndarray, joint_angles: np.ndarray):
        """PD targets for the coming control step: spherical quats (S, 4), revolute angles (R,)."""
        quats = iter(joint_quats.tolist() if isinstance(joint_quats, np.ndarray) else joint_quats)
        angles = iter(joint_angles.tolist() if isinstance(joint_angles, np.ndarray) else joint_angles)
        self._targets = [next(quats) if spherical else [next(angles)] for spherical in self.is_spherical]

    def push(self, link: int, impulse, point, duration: float):
        """Queue an impulse (N s, world frame) on `link` at world `point`, spread as a constant
        force over the first `duration` seconds of the next control step (viewer pushes)."""
        self._pushes.append((link, np.asarray(impulse, dtype=np.float64), list(map(float, point)), duration))

    def hold_force(self, link: int, force, seconds: float):
        """Hold a constant force (N, world frame) on `link`'s centre of mass (-1: the base) for the next
        `seconds` of physics, across control steps: it is applied before every substep, since external
        forces last one `stepSimulation` (the push test, awr_mimic.sampling.push). `set_state` drops it."""
        steps = max(1, int(round(float(seconds) * self.sim_hz)))
        self._held.append([int(link), [float(f) for f in force], steps])

    @property
    def holding_force(self) -> bool:
        """A held force (`hold_force`) has substeps left."""
        return bool(self._held)

    def step_physics(self, substeps: int):
        """Stable PD then one physics step, `substeps` times."""
        if self._pushes or self._held:
            pushes, self._pushes = self._pushes, []
            sim_dt = 1.0 / self.sim_hz
            for i in range(substeps):
                for link, impulse, point, duration in pushes:
                    steps = max(1, int(round(duration / sim_dt)))
                    if i < steps:  # external forces also last one stepSimulation
                        force = (impulse / (steps * sim_dt)).tolist()
                        p.applyExternalForce(self.body, link, force, point, p.WORLD_FRAME, physicsClientId=self.client)
                self._apply_held()
                self._substeps(1)
        else:
            self._substeps(substeps)

    def _apply_held(self):
        cid, body = self.client, self.body
        for held in self._held:
            link, force, _ = held
            if link < 0:
                point = p.getBasePositionAndOrientation(body, physicsClientId=cid)[0]
            else:
                point = p.getLinkState(body, link, computeForwardKinematics=1, physicsClientId=cid)[0]
            p.applyExternalForce(body, link, force, point, p.WORLD_FRAME, physicsClientId=cid)
            held[2] -= 1
        self._held = [h for h in self._held if h[2] > 0]

    def _substeps(self, substeps: int):
        body, cid, joints = self.body, self.client, self.joint_indices
        targets, vel, kp, kd, forces = self._targets, self._zero_vel, self._kp, self._kd, self._forces
        control = p.setJointMotorControlMultiDofArray
        step = p.stepSimulation
        mode = p.STABLE_PD_CONTROL
        for _ in range(substeps):
            control(
                body, joints, mode, targetPositions=targets, targetVelocities=vel,
                positionGains=kp, velocityGains=kd, forces=forces, physicsClientId=cid,
            )
            step(physicsClientId=cid)

    # ------------------------------------------------------------ state

    def set_state(self, root_pos, root_quat, root_vel, root_ang_vel, joint_quats, joint_angles,
                  joint_ang_vels, joint_angle_vels):
        """Teleport the character to a pose with velocities (root = base link frame); drops held forces."""
        cid = self.client
        self._held = []
        base_pos, base_quat, base_vel = root_pos, root_quat, root_vel
        if self._has_base_offset:
            offset = quat.rotate(root_quat, self._base_com_offset)
            base_pos = root_pos + offset
            base_quat = quat.multiply(root_quat, self._base_com_quat)
            base_vel = root_vel + np.cross(root_ang_vel, offset)
        p.resetBasePositionAndOrientation(self.body, list(base_pos), list(base_quat), physicsClientId=cid)
        p.resetBaseVelocity(self.body, list(base_vel), list(root_ang_vel), physicsClientId=cid)
        values, velocities = [], []
        quats, angles = joint_quats.tolist(), joint_angles.tolist()
        qv, av = joint_ang_vels.tolist(), joint_angle_vels.tolist()
        qi = ai = 0
        for spherical in self.is_spherical:
            if spherical:
                values.append(quats[qi])
                velocities.append(qv[qi])
                qi += 1
            else:
                values.append([angles[ai]])
                velocities.append([av[ai]])
                ai += 1
        p.resetJointStatesMultiDof(self.body, self.joint_indices, values, velocities, physicsClientId=cid)

    def _state_layout(self):
        """Slices of the flat state array read_state() builds (one numpy conversion per step)."""
        self.layout = StateLayout(self.num_spherical, self.num_revolute)
        self._links = slice(self.layout.size, self.layout.size + 9 * self.num_links)
        self._link_quats = slice(self._links.stop, self._links.stop + 4 * self.num_links)
        self.state_size = self._link_quats.stop
        self._sph_order = [int(i) for i in np.flatnonzero(self.is_spherical)]
        self._rev_order = [int(i) for i in np.flatnonzero(~self.is_spherical)]

    def state_values(self) -> list:
        """The character's state as a flat list of floats in `state_layout` order: four pybullet calls."""
        cid, body = self.client, self.body
        base_pos, base_quat = p.getBasePositionAndOrientation(body, physicsClientId=cid)
        base_vel, base_ang_vel = p.getBaseVelocity(body, physicsClientId=cid)
        links = p.getLinkStates(body, self.link_indices, computeLinkVelocity=1, computeForwardKinematics=1,
                                physicsClientId=cid)
        joints = p.getJointStatesMultiDof(body, self.joint_indices, physicsClientId=cid)
        if self._has_base_offset:  # report the base link frame, not its centre of mass
            base_pos, base_quat, base_vel = self._base_frame(base_pos, base_quat, base_vel, base_ang_vel)
        sph, rev = self._sph_order, self._rev_order
        values = [*base_pos, *base_vel, *base_quat]
        for j in sph:
            values += joints[j][0]
        values += base_ang_vel
        for j in sph:
            values += joints[j][1]
        for j in rev:
            values += joints[j][0]
        for j in rev:
            values += joints[j][1]
        for field in (0, 6, 7, 1):  # link COM position, linear velocity, angular velocity, rotation
            for link in links:
                values += link[field]
        return values

    def _base_frame(self, com_pos, com_quat, com_vel, ang_vel):
        root_quat = quat.multiply(np.array(com_quat), quat.conjugate(self._base_com_quat))
        offset = quat.rotate(root_quat, self._base_com_offset)
        root_pos = np.array(com_pos) - offset
        root_vel = np.array(com_vel) - np.cross(ang_vel, offset)
        return root_pos.tolist(), root_quat.tolist(), root_vel.tolist()

    def batch_views(self, flat: np.ndarray) -> "SimBatch":
        """Named views of (K, state_size) flat states."""
        lay, L, K = self.layout, self.num_links, len(flat)
        quats = flat[:, lay.quats].reshape(K, -1, 4)
        ang_vels = flat[:, lay.ang_vels].reshape(K, -1, 3)
        vectors = flat[:, self._links].reshape(K, 3 * L, 3)
        return SimBatch(
            flat=flat, tracked=flat[:, : lay.size], root_pos=flat[:, lay.root_pos], root_quat=quats[:, 0],
            root_vel=flat[:, lay.root_vel], root_ang_vel=ang_vels[:, 0], quats=quats, ang_vels=ang_vels,
            joint_quats=quats[:, 1:], joint_angles=flat[:, lay.joint_angles], joint_ang_vels=ang_vels[:, 1:],
            joint_angle_vels=flat[:, lay.joint_angle_vels], link_vectors=vectors, link_pos=vectors[:, :L],
            link_vel=vectors[:, L : 2 * L], link_ang_vel=vectors[:, 2 * L :],
            link_quat=flat[:, self._link_quats].reshape(K, L, 4),
        )

    def read_state(self) -> "SimBatch":
        """This world's state as a batch of one."""
        values = self.state_values()
        return self.batch_views(np.fromiter(values, np.float64, len(values))[None])

    def ground_contact_links(self) -> list[int]:
        """Links of the character touching the ground now (-1 is the base)."""
        contacts = p.getContactPoints(bodyA=self.body, bodyB=self.ground, physicsClientId=self.client)
        return [c[3] for c in contacts]


class SimBatch(NamedTuple):
    """Simulated characters (K leading): root = base link frame, joints in actuation order.
    Every field is a view of `flat`; `tracked` is its leading block in the StateLayout
    shared with the reference."""

    flat: np.ndarray  # (K, state_size)
    tracked: np.ndarray
    root_pos: np.ndarray  # (K, 3)
    root_quat: np.ndarray  # (K, 4)
    root_vel: np.ndarray
    root_ang_vel: np.ndarray  # world
    quats: np.ndarray  # (K, 1+S, 4)
    ang_vels: np.ndarray  # (K, 1+S, 3)
    joint_quats: np.ndarray  # (K, S, 4) spherical, local
    joint_angles: np.ndarray  # (K, R)
    joint_ang_vels: np.ndarray  # (K, S, 3) local (child) frame
    joint_angle_vels: np.ndarray  # (K, R)
    link_vectors: np.ndarray  # (K, 3L, 3)
    link_pos: np.ndarray  # (K, L, 3) link centres of mass
    link_vel: np.ndarray  # (K, L, 3)
    link_ang_vel: np.ndarray  # (K, L, 3)
    link_quat: np.ndarray  # (K, L, 4)
