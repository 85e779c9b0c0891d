"""DeepMimic character files -> URDF + our character TOML.

A DeepMimic character (``data/characters/*.txt``) is JSON with:

* ``Skeleton.Joints[]``: ID, Name, Type (none | spherical | revolute | fixed),
  Parent, Attach{X,Y,Z} (the joint frame in the parent joint's frame),
  AttachTheta{X,Y,Z} (applied as Rz*Ry*Rx, i.e. URDF rpy), LimLow0/LimHigh0
  (revolute range), TorqueLim, IsEndEffector, DiffWeight;
* ``BodyDefs[]``: one body per joint, ID, Shape (sphere | capsule | box), Mass,
  EnableFallContact, Attach{X,Y,Z}, AttachTheta{X,Y,Z} and Param0-2: a
  sphere's and a capsule's Param0 is the *diameter*, a capsule's Param1 the
  cylinder height along y; a box's params are its full extents.

A controller file (``data/controllers/*_ctrl.txt``) gives the PD gains:
``PDControllers[]`` with Name, Kp, Kd.

Conversion (it reproduces pybullet_data's humanoid.urdf, which was made from
humanoid3d.txt the same way at 4x scale):

* the root joint becomes a massless ``base`` link plus a fixed ``root`` joint,
  so link indices equal DeepMimic body ids;
* spherical -> ``spherical``; revolute -> ``revolute`` about z; fixed -> ``fixed``;
* joint Attach -> joint ``<origin>``; body Attach -> collision and inertial origin;
* URDF capsules lie along z, DeepMimic's along y: an extra -pi/2 about x.

Units: DeepMimic's files are in metres and kilograms. DeepMimic runs Bullet
with ``--world_scale 4`` (it multiplies lengths by 4 inside the physics engine
and divides them out again) purely for numerical reasons; it is not part of
the model. We write metres (``scale = 1``) and simulate in metres.

Inertias are computed from the shapes (solid sphere, box and capsule of the
body's mass) and written to the URDF, so the model does not depend on how a
simulator would estimate them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from scipy.spatial.transform import Rotation

from awr_mimic.errors import AwrMimicError, show

BASE_MASS = 1e-4  # the dummy base link; pybullet wants a non-zero mass on a free base


@dataclass
class DMJoint:
    id: int
    name: str
    type: str
    parent: int
    attach: np.ndarray
    attach_theta: np.ndarray
    lim_low: float
    lim_high: float
    torque_limit: float
    end_effector: bool
    diff_weight: float


@dataclass
class DMBody:
    id: int
    name: str
    shape: str
    mass: float
    fall_contact: bool
    attach: np.ndarray
    attach_theta: np.ndarray
    params: np.ndarray


@dataclass
class DMCharacter:
    name: str
    joints: list[DMJoint]
    bodies: list[DMBody]
    gains: dict[str, tuple[float, float]]  # joint name -> (kp, kd)

    @property
    def total_mass(self) -> float:
        return float(sum(b.mass for b in self.bodies))

    @property
    def actuated(self) -> list[DMJoint]:
        """Joints with clip columns, in DeepMimic's (= clip column) order."""
        return [j for j in self.joints if j.type in ("spherical", "revolute")]

    @property
    def num_dofs(self) -> int:
        """Actuated DoF plus the 6 of the free root."""
        return 6 + sum(3 if j.type == "spherical" else 1 for j in self.actuated)


def _num(d: dict, key: str, where: str, default=None) -> float:
    if key not in d:
        if default is not None:
            return default
        raise AwrMimicError(f"{where}: missing {key!r}")
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AwrMimicError(f"{where}: {key!r} is not a finite number: {show(value)}")
    return float(value)


def _xyz(d: dict, prefix: str, where: str) -> np.ndarray:
    return np.array([_num(d, f"{prefix}{a}", where, 0.0) for a in "XYZ"])


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise AwrMimicError(f"{path}: no such {what} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AwrMimicError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise AwrMimicError(f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise AwrMimicError(f"{path}: expected a JSON object")
    return data


def read_controller(path: str | Path) -> dict[str, tuple[float, float]]:
    """PD gains per joint name from a DeepMimic controller file."""
    data = _read_json(Path(path), "controller")
    ctrls = data.get("PDControllers")
    if not isinstance(ctrls, list):
        raise AwrMimicError(f"{path}: missing the 'PDControllers' list")
    gains = {}
    for i, c in enumerate(ctrls):
        where = f"{path}: PDControllers[{i}]"
        if not isinstance(c, dict) or "Name" not in c:
            raise AwrMimicError(f"{where}: expected an object with 'Name', 'Kp', 'Kd'")
        gains[str(c["Name"])] = (_num(c, "Kp", where), _num(c, "Kd", where))
    return gains


def read_character(path: str | Path, ctrl_path: str | Path | None = None, name: str | None = None) -> DMCharacter:
    """Parse and validate a DeepMimic character file (and its controller file)."""
    path = Path(path)
    data = _read_json(path, "character")
    try:
        joints_json = data["Skeleton"]["Joints"]
        bodies_json = data["BodyDefs"]
    except (KeyError, TypeError):
        raise AwrMimicError(f"{path}: not a DeepMimic character (expected 'Skeleton.Joints' and 'BodyDefs')") from None
    joints = []
    for i, j in enumerate(joints_json):
        where = f"{path}: joint {i}"
        jtype = j.get("Type")
        if jtype not in ("none", "spherical", "revolute", "fixed"):
            raise AwrMimicError(f"{where} ({j.get('Name')!r}): unsupported joint type {jtype!r}")
        joints.append(
            DMJoint(
                id=int(_num(j, "ID", where)),
                name=str(j.get("Name", f"joint{i}")),
                type=jtype,
                parent=int(_num(j, "Parent", where)),
                attach=_xyz(j, "Attach", where),
                attach_theta=_xyz(j, "AttachTheta", where),
                lim_low=_num(j, "LimLow0", where, 0.0),
                lim_high=_num(j, "LimHigh0", where, 0.0),
                torque_limit=_num(j, "TorqueLim", where, 0.0),
                end_effector=bool(j.get("IsEndEffector", 0)),
                diff_weight=_num(j, "DiffWeight", where, 1.0),
            )
        )
    for i, j in enumerate(joints):
        if j.id != i:
            raise AwrMimicError(f"{path}: joint {i} has ID {j.id}; IDs must be 0, 1, 2, ... in order")
        if (i == 0) != (j.parent == -1) or j.parent >= i:
            raise AwrMimicError(f"{path}: joint {j.name!r}: the root must come first and parents before children")
        if (i == 0) != (j.type == "none"):
            raise AwrMimicError(f"{path}: joint {j.name!r}: only the root has type 'none'")
    if len(bodies_json) != len(joints):
        raise AwrMimicError(f"{path}: {len(bodies_json)} BodyDefs for {len(joints)} joints; expected one body per joint")
    bodies = []
    for i, b in enumerate(bodies_json):
        where = f"{path}: body {i}"
        shape = b.get("Shape")
        if shape not in ("sphere", "capsule", "box"):
            raise AwrMimicError(f"{where} ({b.get('Name')!r}): unsupported shape {shape!r}")
        body = DMBody(
            id=int(_num(b, "ID", where)),
            name=str(b.get("Name", joints[i].name)),
            shape=shape,
            mass=_num(b, "Mass", where),
            fall_contact=bool(b.get("EnableFallContact", 1)),
            attach=_xyz(b, "Attach", where),
            attach_theta=_xyz(b, "AttachTheta", where),
            params=np.array([_num(b, f"Param{k}", where, 0.0) for k in range(3)]),
        )
        if body.id != i:
            raise AwrMimicError(f"{where}: ID {body.id}; body IDs must match joint IDs")
        if body.mass <= 0:
            raise AwrMimicError(f"{where} ({body.name!r}): mass must be positive")
        bodies.append(body)
    gains = read_controller(ctrl_path) if ctrl_path is not None else {}
    missing = [j.name for j in joints if j.type in ("spherical", "revolute") and j.name not in gains]
    if ctrl_path is not None and missing:
        raise AwrMimicError(f"{ctrl_path}: no PD gains for joint(s) {', '.join(missing)}")
    return DMCharacter(name=name or path.stem, joints=joints, bodies=bodies, gains=gains)


# ---------------------------------------------------------------- URDF


def _f(x: float) -> str:
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _vec(v) -> str:
    return " ".join(_f(x) for x in v)


def _rpy(rot: Rotation) -> np.ndarray:
    rpy = rot.as_euler("xyz")  # extrinsic x, y, z: R = Rz Ry Rx, URDF's convention
    rpy[np.abs(rpy) < 1e-12] = 0.0
    return rpy


def _shape_inertia(body: DMBody, scale: float) -> tuple[str, np.ndarray, Rotation]:
    """URDF geometry, principal moments and the geometry's rotation in the link frame."""
    p = body.params * scale
    m = body.mass
    rot = Rotation.from_euler("xyz", body.attach_theta)
    if body.shape == "sphere":
        r = 0.5 * p[0]
        return f'<sphere radius="{_f(r)}"/>', np.full(3, 0.4 * m * r * r), rot
    if body.shape == "box":
        x, y, z = p
        moments = m / 12.0 * np.array([y * y + z * z, x * x + z * z, x * x + y * y])
        return f'<box size="{_vec(p)}"/>', moments, rot
    # capsule: DeepMimic's axis is y, URDF's is z
    r, h = 0.5 * p[0], p[1]
    rot = rot * Rotation.from_euler("x", -math.pi / 2)
    # solid cylinder plus two hemispheres of the same density
    v_cyl, v_sph = math.pi * r * r * h, 4.0 / 3.0 * math.pi * r**3
    m_cyl, m_sph = m * v_cyl / (v_cyl + v_sph), m * v_sph / (v_cyl + v_sph)
    axial = 0.5 * m_cyl * r * r + 0.4 * m_sph * r * r
    across = (
        m_cyl * (3 * r * r + h * h) / 12.0
        + m_sph * (0.4 * r * r + h * h / 4.0 + 3.0 * h * r / 8.0)
    )
    return f'<capsule length="{_f(h)}" radius="{_f(r)}"/>', np.array([across, across, axial]), rot


def to_urdf(character: DMCharacter, scale: float = 1.0, robot_name: str | None = None, min_inertia: float = 0.0) -> str:
    """URDF text of a DeepMimic character, lengths multiplied by `scale`.

    min_inertia (kg m^2) raises every principal moment of inertia to at least
    this much, like a motor's armature. pybullet's stable PD at 240 Hz turns
    unstable on a spherical joint whose child is light about one axis (the
    DeepMimic dog's neck and tail capsules spin up to pybullet's 100 rad/s
    velocity clamp within a step); 0.003 is enough for the dog's gains.
    """
    lines = [
        '<?xml version="1.0"?>',
        f'<robot name="{escape(robot_name or character.name)}">',
        "  <!-- generated by awr_mimic.characters.deepmimic_import from a DeepMimic character file -->",
        '  <link name="base">',
        "    <inertial>",
        '      <origin xyz="0 0 0" rpy="0 0 0"/>',
        f'      <mass value="{BASE_MASS}"/>',
        f'      <inertia ixx="{BASE_MASS}" ixy="0" ixz="0" iyy="{BASE_MASS}" iyz="0" izz="{BASE_MASS}"/>',
        "    </inertial>",
        "  </link>",
    ]
    for joint, body in zip(character.joints, character.bodies):
        geometry, moments, rot = _shape_inertia(body, scale)
        origin = f'<origin xyz="{_vec(body.attach * scale)}" rpy="{_vec(_rpy(rot))}"/>'
        # The inertial frame keeps the link's axes: pybullet expresses a spherical
        # joint's rotation in the child's inertial frame, so rotating that frame
        # would change what a clip's joint quaternion means. The tensor is
        # rotated into the link axes instead; its off-diagonal terms vanish when
        # the shape's rotation permutes axes (every DeepMimic character we know),
        # and are dropped otherwise (pybullet would re-diagonalise and rotate).
        matrix = rot.as_matrix()
        inertia = np.maximum(np.diag(matrix @ np.diag(moments) @ matrix.T), min_inertia)
        lines += [
            f'  <link name="{escape(joint.name)}">',
            "    <inertial>",
            f'      <origin xyz="{_vec(body.attach * scale)}" rpy="0 0 0"/>',
            f'      <mass value="{_f(body.mass)}"/>',
            f'      <inertia ixx="{inertia[0]:.6g}" ixy="0" ixz="0" iyy="{inertia[1]:.6g}" iyz="0" izz="{inertia[2]:.6g}"/>',
            "    </inertial>",
            "    <collision>",
            f"      {origin}",
            f"      <geometry>{geometry}</geometry>",
            "    </collision>",
            "    <visual>",
            f"      {origin}",
            f"      <geometry>{geometry}</geometry>",
            "    </visual>",
            "  </link>",
        ]
        if joint.type == "none":
            lines += [
                f'  <joint name="{escape(joint.name)}" type="fixed">',
                '    <parent link="base"/>',
                f'    <child link="{escape(joint.name)}"/>',
                '    <origin xyz="0 0 0" rpy="0 0 0"/>',
                "  </joint>",
            ]
            continue
        parent = character.joints[joint.parent].name
        jorigin = f'<origin xyz="{_vec(joint.attach * scale)}" rpy="{_vec(_rpy(Rotation.from_euler("xyz", joint.attach_theta)))}"/>'
        lines += [
            f'  <joint name="{escape(joint.name)}" type="{joint.type}">',
            f'    <parent link="{escape(parent)}"/>',
            f'    <child link="{escape(joint.name)}"/>',
            f"    {jorigin}",
        ]
        if joint.type == "revolute":
            lines += [
                '    <axis xyz="0 0 1"/>',
                f'    <limit lower="{_f(joint.lim_low)}" upper="{_f(joint.lim_high)}" '
                f'effort="{_f(joint.torque_limit)}" velocity="100"/>',
            ]
        elif joint.type == "spherical":
            lines.append('    <axis xyz="0 0 1"/>')  # unused by spherical joints; silences urdfdom
        lines.append("  </joint>")
    lines.append("</robot>")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- character TOML


def to_toml(
    character: DMCharacter,
    urdf: str,
    name: str | None = None,
    scale: float = 1.0,
    default_clip: str | None = None,
    credit: str = "",
    allow_contact: tuple[str, ...] = (),
    self_collision: bool = True,
) -> str:
    """Our character definition for a converted DeepMimic character."""
    name = name or character.name
    actuated = character.actuated
    weight_sum = sum(j.diff_weight for j in character.joints if j.type != "fixed")
    root = character.joints[0]
    dofs = character.num_dofs
    out = []
    if credit:
        out += [f"# {line}" if line else "#" for line in credit.strip().splitlines()]
    out += [
        f'name = "{name}"',
        f'description = "{character.name} converted from DeepMimic: {len(character.joints)} links, '
        f'{dofs - 6} actuated DoF, {character.total_mass:g} kg"',
        f'urdf = "{urdf}"',
        f"scale = {scale:g}",
        'up_axis = "y"',
        "inertia_from_file = true",
        f"self_collision = {'true' if self_collision else 'false'}",
        "",
        "[clips]",
        '# DeepMimic clip rows: duration, root position (3), root quaternion (w first), then',
        '# per joint below a quaternion (w first, spherical) or an angle (revolute).',
        'format = "deepmimic"',
        'quat_order = "wxyz"',
    ]
    if default_clip:
        out.append(f'default = "{default_clip}"')
    out += [
        "",
        "# kp, kd: stable-PD gains (DeepMimic controller file); torque_limit in N m (TorqueLim);",
        f"# reward_weight: DeepMimic DiffWeight / {weight_sum:g} (the sum over all joints, root included)",
    ]
    for j in actuated:
        kp, kd = character.gains.get(j.name, (0.0, 0.0))
        out += [
            "[[joints]]",
            f'name = "{j.name}"',
            f"kp = {kp:g}",
            f"kd = {kd:g}",
            f"torque_limit = {j.torque_limit:g}",
            f"reward_weight = {j.diff_weight / weight_sum:.4f}",
        ]
    ee = [j.name for j in character.joints if j.end_effector]
    allowed = [character.joints[b.id].name for b in character.bodies if not b.fall_contact]
    names = [j.name for j in character.joints]
    for n in allow_contact:
        if n not in names:
            raise AwrMimicError(f"--allow-contact: {character.name} has no link {n!r} (links: {', '.join(names)})")
    extra = [n for n in allow_contact if n not in allowed]
    out += [
        "",
        "[reward]",
        f"root_weight = {root.diff_weight / weight_sum:.4f}",
        f"end_effectors = [{', '.join(repr_toml(n) for n in ee)}]",
        "",
        "# Early termination: ground contact of a link not listed here ends the episode",
        "# (DeepMimic: the bodies with EnableFallContact = 0"
        + (f"; also allowed here: {', '.join(extra)}" if extra else "")
        + ").",
        "[contacts]",
        f"allowed = [{', '.join(repr_toml(n) for n in allowed + extra)}]",
    ]
    return "\n".join(out) + "\n"


def repr_toml(s: str) -> str:
    return json.dumps(s)


def import_character(
    character_file: str | Path,
    ctrl_file: str | Path | None,
    out_dir: str | Path,
    name: str | None = None,
    scale: float = 1.0,
    default_clip: str | None = None,
    credit: str = "",
    allow_contact: tuple[str, ...] = (),
    self_collision: bool = True,
    min_inertia: float = 0.0,
) -> tuple[Path, Path, DMCharacter]:
    """Write <out_dir>/<name>.urdf and <out_dir>/<name>.toml; returns their paths and the parsed character."""
    if not scale > 0:
        raise AwrMimicError(f"scale must be positive, got {show(scale)}")
    character = read_character(character_file, ctrl_file, name=name)
    name = name or character.name
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    urdf_path = out_dir / f"{name}.urdf"
    toml_path = out_dir / f"{name}.toml"
    urdf_path.write_text(to_urdf(character, scale=scale, robot_name=name, min_inertia=min_inertia))
    toml_path.write_text(to_toml(character, urdf_path.name, name=name, default_clip=default_clip, credit=credit,
                                 allow_contact=tuple(allow_contact), self_collision=self_collision))
    return urdf_path, toml_path, character
