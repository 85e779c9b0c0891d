"""The pybullet world of one environment: ground, character and stable PD.

Per-substep work is only physics: the PD call's arguments are built once per
control step (`set_pd_targets`) and reused for every substep, since
pybullet's STABLE_PD_CONTROL torques last for one `stepSimulation` only.
"""
from __future__ import annotations

from itertools import chain
from operator import itemgetter

import numpy as np

from awr_mimic.anim import quat
from awr_mimic.anim.skeleton import SPHERICAL
from awr_mimic.characters.character import Character, p, quiet_stdout
from awr_mimic.envs.layout import StateLayout

import pybullet_data

FRICTION = 0.9  # any change to these world settings bumps awr_mimic/physics_revision.py
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
        # Damping belongs to the whole multibody: set it on the base alone. pybullet ignores every
        # other argument of a link's changeDynamics call that also sets damping, which left the
        # links at the URDF's friction of 0.5 until 2026-12-03.
        p.changeDynamics(self.body, -1, linearDamping=0.0, angularDamping=0.0, physicsClientId=cid)
        for link in [-1] + self.link_indices:
            p.changeDynamics(self.body, link, lateralFriction=FRICTION, physicsClientId=cid)

        layout = character.layout
        self.joint_indices = [int(i) for i, _, _ in layout.joints]
        self.is_spherical = np.array([t == SPHERICAL for _, t, _ in layout.joints])
        self._disable_default_motors()

        # PD targets as one flat list: the spherical joints' quaternions (4 each), then the revolute
        # joints' angles (1 each); the slice of each joint, in joint order
        num_sph = int(self.is_spherical.sum())
        sph_rank = np.cumsum(self.is_spherical) - 1
        rev_rank = np.cumsum(~self.is_spherical) - 1
        self._target_slices = [slice(4 * int(r), 4 * int(r) + 4) if sph else slice(4 * num_sph + int(q), 4 * num_sph + int(q) + 1)
                               for sph, r, q in zip(self.is_spherical, sph_rank, rev_rank)]
        self.target_size = 4 * num_sph + int((~self.is_spherical).sum())
        # target velocities likewise: 3 per spherical joint (local frame, as pybullet reports them), then 1 each
        self._velocity_slices = [slice(3 * int(r), 3 * int(r) + 3) if sph else slice(3 * num_sph + int(q), 3 * num_sph + int(q) + 1)
                                 for sph, r, q in zip(self.is_spherical, sph_rank, rev_rank)]

        kp, kd, torque_limit = character.pd_gains
        self._kp = kp.tolist()
        self._kd = kd.tolist()
        self._forces = [[f] * 3 if s else [f] for f, s in zip(torque_limit, self.is_spherical)]
        self._zero_vel = [[0.0] * 3 if s else [0.0] for s in self.is_spherical]
        self._targets = None
        self._target_vel = self._zero_vel
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
        flat = np.concatenate([np.asarray(joint_quats, dtype=np.float64).reshape(-1),
                               np.asarray(joint_angles, dtype=np.float64).reshape(-1)])
        self.set_pd_flat(flat.tolist())

    def set_pd_flat(self, values: list, velocities: list | None = None):
        """PD targets as one flat list of floats: the spherical joints' quaternions (4 each), then the
        revolute joints' angles (1 each), as `target_size` says. `velocities` (3 per spherical joint in
        its local frame, then 1 per revolute one) are the target velocities; None: zero (DeepMimic's)."""
        self._targets = list(map(values.__getitem__, self._target_slices))
        self._target_vel = self._zero_vel if velocities is None else list(map(velocities.__getitem__, self._velocity_slices))

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
        targets, vel, kp, kd, forces = self._targets, self._target_vel, self._kp, self._kd, self._forces
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
        base_pos, base_quat, base_vel = root_pos, root_quat, root_vel
        if self._has_base_offset:
            offset = quat.rotate(root_quat, self._base_com_offset)
            base_pos = root_pos + offset
            base_quat = quat.multiply(root_quat, self._base_com_quat)
            base_vel = root_vel + np.cross(root_ang_vel, offset)
        quats, angles = iter(joint_quats.tolist()), iter(joint_angles.tolist())
        qv, av = iter(joint_ang_vels.tolist()), iter(joint_angle_vels.tolist())
        # per joint in joint order: a quaternion and an angular velocity, or [angle] and [velocity]
        values = [next(quats) if s else [next(angles)] for s in self._is_spherical_list]
        velocities = [next(qv) if s else [next(av)] for s in self._is_spherical_list]
        self._reset(list(base_pos), list(base_quat), list(base_vel), list(root_ang_vel), values, velocities)

    def set_state_row(self, values: list):
        """`set_state` from a flat list of floats in the `StateLayout` order (a reference row's tracked
        block): the same pybullet calls, their arguments cut from the list with precomputed slices."""
        lay = self.layout
        if self._has_base_offset:
            a = np.array(values)
            self.set_state(a[lay.root_pos], a[lay.root_quat], a[lay.root_vel], a[lay.root_ang_vel],
                           a[lay.quats].reshape(-1, 4)[1:], a[lay.joint_angles], a[lay.ang_vels].reshape(-1, 3)[1:],
                           a[lay.joint_angle_vels])
            return
        cut = values.__getitem__
        self._reset(values[lay.root_pos], values[lay.root_quat], values[lay.root_vel], values[lay.root_ang_vel],
                    list(map(cut, self._row_positions)), list(map(cut, self._row_velocities)))

    def _reset(self, base_pos, base_quat, base_vel, base_ang_vel, joint_values, joint_velocities):
        """The three pybullet resets, with the base's centre-of-mass frame and per-joint lists."""
        cid, body = self.client, self.body
        self._held = []
        p.resetBasePositionAndOrientation(body, base_pos, base_quat, physicsClientId=cid)
        p.resetBaseVelocity(body, base_vel, base_ang_vel, physicsClientId=cid)
        p.resetJointStatesMultiDof(body, self.joint_indices, joint_values, joint_velocities, physicsClientId=cid)

    def _state_layout(self):
        """Slices of the flat state array read_state() builds (one numpy conversion per step):

            tracked (StateLayout) | end effectors (3E) | COM velocity (3) | half rotation angles (1+S) |
            link COM positions, linear, angular velocities (9L) | link rotations (4L)

        The three blocks after the tracked one are zero as read: the env fills them in (end effectors
        relative to the root in its heading frame, the whole-body COM velocity, half the angle between
        each [root; spherical joint] rotation and the reference's), so that the first `row_size`
        numbers are the row the reward compares with the reference's.
        """
        self.layout = StateLayout(self.num_spherical, self.num_revolute)
        E, S = len(self.character.end_effector_links), self.num_spherical
        size = self.layout.size
        self.end_effectors = slice(size, size + 3 * E)
        self.com_vel = slice(size + 3 * E, size + 3 * E + 3)
        self.rotation_angles = slice(size + 3 * E + 3, size + 3 * E + 4 + S)
        self.row_size = self.rotation_angles.stop
        self._scratch_zeros = [0.0] * (self.row_size - size)
        self._links = slice(self.row_size, self.row_size + 9 * self.num_links)
        self._link_quats = slice(self._links.stop, self._links.stop + 4 * self.num_links)
        self.state_size = self._link_quats.stop
        self._sph_order = [int(i) for i in np.flatnonzero(self.is_spherical)]
        self._rev_order = [int(i) for i in np.flatnonzero(~self.is_spherical)]
        self._pick_sph, self._pick_rev = _picker(self._sph_order), _picker(self._rev_order)
        # per joint in joint order, its position and velocity slices of a flat state (set_state_row)
        lay, sph_rank, rev_rank = self.layout, 0, 0
        self._row_positions, self._row_velocities = [], []
        for spherical in self._is_spherical_list:
            if spherical:
                sph_rank += 1  # quats and ang_vels start with the root's
                q, w = lay.quats.start + 4 * sph_rank, lay.ang_vels.start + 3 * sph_rank
                self._row_positions.append(slice(q, q + 4))
                self._row_velocities.append(slice(w, w + 3))
            else:
                a, v = lay.joint_angles.start + rev_rank, lay.joint_angle_vels.start + rev_rank
                self._row_positions.append(slice(a, a + 1))
                self._row_velocities.append(slice(v, v + 1))
                rev_rank += 1

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
        # C-level gathers (itemgetter, map, chain) rather than Python loops over joints and links
        sph, rev = self._pick_sph(joints), self._pick_rev(joints)
        first, second, cat = _FIRST, _SECOND, chain.from_iterable
        values = [*base_pos, *base_vel, *base_quat]
        values += cat(map(first, sph))  # spherical joint rotations
        values += base_ang_vel
        values += cat(map(second, sph))  # spherical joint angular velocities
        values += cat(map(first, rev))  # revolute angles
        values += cat(map(second, rev))  # and velocities
        values += self._scratch_zeros  # filled in by the env
        # link COM position, linear velocity, angular velocity, rotation
        for field in _LINK_FIELDS:
            values += cat(map(field, links))
        return values

    def _base_frame(self, com_pos, com_quat, com_vel, ang_vel):
        root_quat = quat.multiply(np.array(com_quat), quat.conjugate(self._base_com_quat))
        offset = quat.rotate(root_quat, self._base_com_offset)
        root_pos = np.array(com_pos) - offset
        root_vel = np.array(com_vel) - np.cross(ang_vel, offset)
        return root_pos.tolist(), root_quat.tolist(), root_vel.tolist()

    def batch_views(self, flat: np.ndarray) -> "SimBatch":
        """Named views of (K, state_size) flat states."""
        return SimBatch(flat, self)

    def read_state(self) -> "SimBatch":
        """This world's state as a batch of one."""
        values = self.state_values()
        return self.batch_views(np.fromiter(values, np.float64, len(values))[None])

    def ground_contact_links(self) -> list[int]:
        """Links of the character touching the ground now (-1 is the base)."""
        contacts = p.getContactPoints(bodyA=self.body, bodyB=self.ground, physicsClientId=self.client)
        return [c[3] for c in contacts]


_FIRST, _SECOND = itemgetter(0), itemgetter(1)
_LINK_FIELDS = (itemgetter(0), itemgetter(6), itemgetter(7), itemgetter(1))  # of getLinkStates


def _picker(indices: list):
    """A function returning the items at `indices` of a sequence, as a tuple."""
    if not indices:
        return lambda seq: ()
    if len(indices) == 1:
        i = indices[0]
        return lambda seq: (seq[i],)
    return itemgetter(*indices)


class SimBatch:
    """Simulated characters (K leading): root = base link frame, joints in actuation order.
    Every field is a view of `flat` (made when asked for); `tracked` is its leading block in the
    StateLayout shared with the reference, `row` that block and what the env fills in after it
    for the reward (see World._state_layout)."""

    __slots__ = ("flat", "_world")

    def __init__(self, flat: np.ndarray, world: World):
        self.flat, self._world = flat, world  # flat: (K, state_size)

    def __len__(self):
        return len(self.flat)

    @property
    def num_links(self) -> int:
        return self._world.num_links

    tracked = property(lambda self: self.flat[:, : self._world.layout.size])
    row = property(lambda self: self.flat[:, : self._world.row_size])
    root_pos = property(lambda self: self.flat[:, self._world.layout.root_pos])  # (K, 3)
    root_vel = property(lambda self: self.flat[:, self._world.layout.root_vel])
    root_quat = property(lambda self: self.flat[:, self._world.layout.root_quat])  # (K, 4)
    quats = property(lambda self: self.flat[:, self._world.layout.quats].reshape(len(self.flat), -1, 4))  # (K, 1+S, 4)
    ang_vels = property(lambda self: self.flat[:, self._world.layout.ang_vels].reshape(len(self.flat), -1, 3))
    root_ang_vel = property(lambda self: self.flat[:, self._world.layout.root_ang_vel])  # world
    joint_quats = property(lambda self: self.quats[:, 1:])  # (K, S, 4) spherical, local
    joint_ang_vels = property(lambda self: self.ang_vels[:, 1:])  # (K, S, 3) local (child) frame
    joint_angles = property(lambda self: self.flat[:, self._world.layout.joint_angles])  # (K, R)
    joint_angle_vels = property(lambda self: self.flat[:, self._world.layout.joint_angle_vels])  # (K, R)
    # (K, 3L, 3): link centres of mass, linear velocities, angular velocities
    link_vectors = property(lambda self: self.flat[:, self._world._links].reshape(len(self.flat), -1, 3))
    link_pos = property(lambda self: self.link_vectors[:, : self._world.num_links])  # (K, L, 3)
    link_vel = property(lambda self: self.link_vectors[:, self._world.num_links : 2 * self._world.num_links])
    link_ang_vel = property(lambda self: self.link_vectors[:, 2 * self._world.num_links :])
    link_quat = property(lambda self: self.flat[:, self._world._link_quats].reshape(len(self.flat), -1, 4))  # (K, L, 4)
