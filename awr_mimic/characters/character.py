"""Characters as data.

A character is one TOML file: its URDF and scale, the actuated joints in clip
column order with PD gains, torque limits and reward weights, the end
effectors, and which links may touch the ground for each clip. Everything the
environment, reward and viewer need about a character comes from here; adding
a character means adding a file, not code.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from awr_mimic import paths
from awr_mimic.anim.clip import PoseLayout
from awr_mimic.anim.skeleton import FIXED, REVOLUTE, SPHERICAL, Skeleton
from awr_mimic.errors import AwrMimicError, unknown_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from awr_mimic.bullet import p, quiet_stdout  # noqa: F401  (re-exported for envs and viewer)

BUILTIN_DIR = Path(__file__).resolve().parent / "data"
UP_AXES = {"y": 1, "z": 2}


@dataclass(frozen=True)
class JointSpec:
    name: str
    kp: float
    kd: float
    torque_limit: float
    reward_weight: float


@dataclass(frozen=True)
class ContactRule:
    """Ground contact of a link in `terminate_on` ends the episode as a failure."""

    terminate_on: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Character:
    name: str
    description: str
    source: Path
    urdf: Path
    scale: float
    up_axis: int
    inertia_from_file: bool
    self_collision: bool
    joints: tuple[JointSpec, ...]
    root_reward_weight: float
    end_effectors: tuple[str, ...]
    contact_default: dict
    contact_clips: dict
    clip_format: str = "deepmimic"
    quat_order: str = "wxyz"
    builtin_clip_dirs: tuple[tuple[str, str], ...] = ()
    default_clip: str | None = None
    extra: dict = field(default_factory=dict)
    # clip-file conventions (see PoseLayout): per-revolute-joint direction and offset
    # from file angles to URDF angles, and which base frame the root columns place
    angle_direction: tuple[float, ...] | None = None
    angle_offset: tuple[float, ...] | None = None
    root_frame: str = "link"

    # ------------------------------------------------------------ pybullet

    def load(self, client: int, base_position=(0.0, 0.0, 0.0), fixed_base: bool = False) -> int:
        """Load the URDF into a pybullet client; returns the body id."""
        flags = p.URDF_MAINTAIN_LINK_ORDER
        if self.inertia_from_file:
            flags |= p.URDF_USE_INERTIA_FROM_FILE
        if self.self_collision:
            flags |= p.URDF_USE_SELF_COLLISION | p.URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS
        if not self.urdf.is_file():
            raise AwrMimicError(f"character {self.name!r}: URDF not found at {self.urdf}")
        with quiet_stdout():
            body = p.loadURDF(
                str(self.urdf),
                base_position,
                globalScaling=self.scale,
                useFixedBase=fixed_base,
                flags=flags,
                physicsClientId=client,
            )
        return body

    @cached_property
    def skeleton(self) -> Skeleton:
        """The kinematic tree exactly as pybullet builds it from the URDF."""
        with quiet_stdout():  # connect prints pybullet's build time
            client = p.connect(p.DIRECT)
        try:
            body = self.load(client)
            return skeleton_from_body(client, body)
        finally:
            p.disconnect(client)

    # ------------------------------------------------------------ derived data

    @cached_property
    def joint_links(self) -> np.ndarray:
        """Link index of each actuated joint, in clip column order."""
        names = self.skeleton.link_names
        out = []
        for joint in self.joints:
            if joint.name not in names:
                raise unknown_name(f"joint of character {self.name!r}", joint.name, names)
            out.append(names.index(joint.name))
        return np.array(out, dtype=np.int64)

    @cached_property
    def layout(self) -> PoseLayout:
        types = [self.skeleton.joint_types[i] for i in self.joint_links]
        for joint, joint_type in zip(self.joints, types):
            if joint_type not in (SPHERICAL, REVOLUTE):
                raise AwrMimicError(f"character {self.name!r}: joint {joint.name!r} is {joint_type}, not actuated")
        num_revolute = types.count(REVOLUTE)
        for key, values in (("angle_direction", self.angle_direction), ("angle_offset", self.angle_offset)):
            if values is not None and len(values) != num_revolute:
                raise AwrMimicError(
                    f"character {self.name!r}: clips.{key} has {len(values)} numbers; "
                    f"it needs one per revolute joint ({num_revolute})"
                )
        return PoseLayout(
            joints=tuple((int(i), t, j.name) for i, t, j in zip(self.joint_links, types, self.joints)),
            up_axis=self.up_axis,
            quat_order=self.quat_order,
            angle_sign=self.angle_direction,
            angle_offset=self.angle_offset,
            root_frame=self.root_frame,
            base_inertial_pos=tuple(float(x) for x in self.skeleton.base_inertial_pos),
        )

    def link_indices(self, names) -> np.ndarray:
        link_names = self.skeleton.link_names
        for n in names:
            if n not in link_names:
                raise unknown_name(f"link of character {self.name!r}", n, link_names)
        return np.array([link_names.index(n) for n in names], dtype=np.int64)

    @cached_property
    def end_effector_links(self) -> np.ndarray:
        return self.link_indices(self.end_effectors)

    def termination_links(self, clip_name: str) -> np.ndarray:
        """Links whose ground contact ends an episode of `clip_name`."""
        rule = self.contact_clips.get(clip_name, self.contact_default)
        if "terminate_on" in rule:
            return self.link_indices(rule["terminate_on"])
        allowed = set(self.link_indices(rule.get("allowed", [])).tolist())
        return np.array([i for i in range(self.skeleton.num_links) if i not in allowed], dtype=np.int64)

    @property
    def pd_gains(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kp = np.array([j.kp for j in self.joints], dtype=np.float64)
        kd = np.array([j.kd for j in self.joints], dtype=np.float64)
        limit = np.array([j.torque_limit for j in self.joints], dtype=np.float64)
        return kp, kd, limit

    @property
    def reward_weights(self) -> np.ndarray:
        return np.array([j.reward_weight for j in self.joints], dtype=np.float64)


def skeleton_from_body(client: int, body: int) -> Skeleton:
    types = {p.JOINT_FIXED: FIXED, p.JOINT_REVOLUTE: REVOLUTE, p.JOINT_SPHERICAL: SPHERICAL}
    n = p.getNumJoints(body, physicsClientId=client)
    names, parents, jtypes, axes, limits, ppos, pquat, ipos, iquat, masses = ([] for _ in range(10))
    for j in range(n):
        info = p.getJointInfo(body, j, physicsClientId=client)
        dyn = p.getDynamicsInfo(body, j, physicsClientId=client)
        if info[2] not in types:
            raise AwrMimicError(f"joint {info[1].decode()!r}: only fixed, revolute and spherical joints are supported")
        names.append(info[12].decode())
        jtypes.append(types[info[2]])
        axes.append(info[13])
        limits.append((info[8], info[9]))
        ppos.append(info[14])
        pquat.append(info[15])
        parents.append(info[16])
        masses.append(dyn[0])
        ipos.append(dyn[3])
        iquat.append(dyn[4])
    base = p.getDynamicsInfo(body, -1, physicsClientId=client)
    return Skeleton(
        link_names=tuple(names),
        parents=np.array(parents, dtype=np.int64),
        joint_types=tuple(jtypes),
        joint_axes=np.array(axes, dtype=np.float64).reshape(n, 3),
        joint_limits=np.array(limits, dtype=np.float64).reshape(n, 2),
        parent_pos=np.array(ppos, dtype=np.float64).reshape(n, 3),
        parent_quat=np.array(pquat, dtype=np.float64).reshape(n, 4),
        inertial_pos=np.array(ipos, dtype=np.float64).reshape(n, 3),
        inertial_quat=np.array(iquat, dtype=np.float64).reshape(n, 4),
        masses=np.array(masses, dtype=np.float64),
        base_mass=float(base[0]),
        base_inertial_pos=np.array(base[3], dtype=np.float64),
        base_inertial_quat=np.array(base[4], dtype=np.float64),
    )


# ---------------------------------------------------------------- registry


def character_files() -> dict[str, Path]:
    """Known character definitions: built-in, the shipped assets/, $AWR_MIMIC_CHARACTERS."""
    found: dict[str, Path] = {}
    dirs = [BUILTIN_DIR, paths.assets_dir()]
    dirs += [Path(d) for d in os.environ.get("AWR_MIMIC_CHARACTERS", "").split(os.pathsep) if d]
    for d in dirs:
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                found.setdefault(f.stem, f)
    return found


_CACHE: dict[str, Character] = {}


def get_character(name_or_path: str) -> Character:
    """A character by name (`humanoid`, `dog`, ...) or by the path of its TOML file."""
    key = str(name_or_path)
    if key in _CACHE:
        return _CACHE[key]
    path = Path(key)
    if path.suffix == ".toml" and path.is_file():
        character = load_character_file(path)
    else:
        files = character_files()
        if key not in files:
            raise unknown_name("character", key, files)
        character = load_character_file(files[key])
    _CACHE[key] = character
    return character


def load_character_file(path: Path) -> Character:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AwrMimicError(f"{path}: cannot read character definition: {exc}") from None
    try:
        clips = data.get("clips", {})
        contacts = data.get("contacts", {})
        up = data.get("up_axis", "y")
        if up not in UP_AXES:
            raise AwrMimicError(f"{path}: up_axis must be 'y' or 'z', got {up!r}")
        return Character(
            name=data["name"],
            description=data.get("description", ""),
            source=path,
            urdf=paths.resolve(data["urdf"], path.parent),
            scale=float(data.get("scale", 1.0)),
            up_axis=UP_AXES[up],
            inertia_from_file=bool(data.get("inertia_from_file", True)),
            self_collision=bool(data.get("self_collision", True)),
            joints=tuple(
                JointSpec(
                    name=j["name"],
                    kp=float(j["kp"]),
                    kd=float(j["kd"]),
                    torque_limit=float(j["torque_limit"]),
                    reward_weight=float(j.get("reward_weight", 0.0)),
                )
                for j in data["joints"]
            ),
            root_reward_weight=float(data.get("reward", {}).get("root_weight", 0.0)),
            end_effectors=tuple(data.get("reward", {}).get("end_effectors", [])),
            contact_default={k: v for k, v in contacts.items() if k != "clips"},
            contact_clips=dict(contacts.get("clips", {})),
            clip_format=clips.get("format", "deepmimic"),
            quat_order=clips.get("quat_order", "wxyz"),
            builtin_clip_dirs=tuple((d["dir"], d.get("prefix", "")) for d in clips.get("builtin", [])),
            default_clip=clips.get("default"),
            extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
            angle_direction=_floats(clips.get("angle_direction"), path, "clips.angle_direction"),
            angle_offset=_floats(clips.get("angle_offset"), path, "clips.angle_offset"),
            root_frame=_choice(clips.get("root_frame", "link"), ("link", "inertial"), path, "clips.root_frame"),
        )
    except KeyError as exc:
        raise AwrMimicError(f"{path}: character definition is missing {exc.args[0]!r}") from None


def _floats(values, path, key) -> tuple[float, ...] | None:
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise AwrMimicError(f"{path}: {key} must be a list of numbers")
    return tuple(float(v) for v in values)


def _choice(value, choices, path, key) -> str:
    if value not in choices:
        raise AwrMimicError(f"{path}: {key} must be one of {', '.join(choices)}, got {value!r}")
    return value


_KNOWN_KEYS = {
    "name", "description", "urdf", "scale", "up_axis", "inertia_from_file",
    "self_collision", "joints", "reward", "contacts", "clips",
}
