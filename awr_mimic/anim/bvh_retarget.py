"""BVH <-> character: import motion capture onto the humanoid; export any clip as BVH.

Import (:func:`bvh_to_clip`) transfers rotations directly, bone by bone:

1. **Joint mapping.** Each humanoid joint finds its source joint by name
   (:data:`HUMANOID_RIG`: CMU, SFU/LAFAN, Mixamo, 3ds Max Biped, DAZ and the
   humanoid's own names; case-insensitive, namespace prefixes such as
   ``mixamorig:`` and whole-word prefixes such as ``Bip01 `` ignored). The chest
   is the joint the neck and both upper arms branch from. A map file overrides
   any of it.
2. **Axes.** The up axis is the coordinate axis closest to ankles -> hips in the
   rest pose (Y-up and Z-up files both work); the source's right is its left
   hip -> right hip. A constant rotation C takes the source's
   forward/up/right onto the humanoid's +x/+y/+z.
3. **Rest pose.** A BVH rest pose is whatever its OFFSETs draw (usually a
   T-pose); the humanoid's zero pose has its arms down. For each bone, B_k is
   the smallest rotation taking the humanoid's zero-pose bone direction onto the
   source's rest direction (feet: horizontal directions only, as feet stand
   flat at rest). A link's rotation from its zero pose is then
   T_k(t) = C G_k(t) C^-1 B_k, with G_k the source joint's world rotation: the
   humanoid's bone points where the source's bone points. So a source standing
   in its T-pose rest pose gives the humanoid a T-pose, and the rotations that
   lower the source's arms lower the humanoid's; copying local rotations
   instead would leave the humanoid's arms 90 degrees away from the actor's.
4. **Hinges.** Knees and elbows keep the twist of their local rotation about
   their axis (a swing-twist split), clipped to the joint's limits; the child
   joint is solved against the clipped hinge, so feet and hands keep their world
   orientation.
5. **Scale and root.** Lengths are scaled by the humanoid's leg length over the
   source's (hip -> knee -> ankle in the rest pose); the root is placed so the
   midpoint of the hips follows the source's.
6. **Time and ground.** Optional cropping, resampling to a new frame rate (lerp
   and slerp), quaternion signs made continuous, and a vertical shift that puts
   the lowest point of the feet over the whole clip on the ground.

Export (:func:`clip_to_bvh`) writes the character's zero pose as the BVH rest
pose (so the importer's rest correction is the identity), facing +z with y up,
rotations in ``Yrotation Zrotation Xrotation`` order, in centimetres by
default. Importing an exported clip gives it back (see tests/test_bvh.py).
"""
from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from awr_mimic.anim import quat
from awr_mimic.anim.bvh import BVH, BVHError, quat_to_euler
from awr_mimic.anim.clip import LOOP_MODES, Clip
from awr_mimic.anim.shapes import pose_fk  # noqa: F401  (FK of a clip; used here and by motion_check)
from awr_mimic.anim.skeleton import FIXED, REVOLUTE, SPHERICAL
from awr_mimic.errors import AwrMimicError, ClipError, show, unknown_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

GROUND_MODES = ("lowest", "keep")
LIMIT_MODES = ("clip", "keep")
UNITS = {"cm": 100.0, "m": 1.0}
EXPORT_ROTATION_ORDER = ("Yrotation", "Zrotation", "Xrotation")


# ---------------------------------------------------------------- the humanoid rig


@dataclass(frozen=True)
class RigJoint:
    """One joint of the humanoid, as the importer sees it.

    key: the map key (a link name, or a helper that only gives a direction);
    names: normalised source names that match it, best first;
    aim: the rig key its bone points at (for the rest-pose direction); None: the
    link's tip, twice its centre-of-mass offset (the head's top, the toes);
    flat: compare horizontal directions only (feet stand flat in a rest pose).
    """

    key: str
    names: tuple[str, ...]
    aim: str | None = None
    flat: bool = False
    required: bool = False
    helper: bool = False  # not a link: only gives its parent's bone direction


def _sided(side: str, bases: tuple[str, ...]) -> tuple[str, ...]:
    """Left/right spellings of each base name: LeftUpLeg, lUpLeg, UpLeg_L, UpLeg_Left, ..."""
    out = []
    for base in bases:
        out += [side + base, side[0] + base, base + side[0], base + side]
    return tuple(dict.fromkeys(out))


def _side_joints(side: str) -> list[RigJoint]:
    s = side
    return [
        RigJoint(f"{s}_hip", _sided(s, ("upleg", "thigh", "upperleg", "hip")), aim=f"{s}_knee", required=True),
        RigJoint(f"{s}_knee", _sided(s, ("leg", "shin", "lowerleg", "calf", "knee")), aim=f"{s}_ankle",
                 required=True),
        RigJoint(f"{s}_ankle", _sided(s, ("foot", "ankle")), aim=f"{s}_toe", flat=True, required=True),
        RigJoint(f"{s}_toe", _sided(s, ("toebase", "toe", "toes", "toe0", "ball")), helper=True),
        # "RightShoulder" is the clavicle in CMU and Mixamo rigs: it comes last
        RigJoint(f"{s}_shoulder", _sided(s, ("arm", "upperarm", "uparm", "shldr", "shoulder")),
                 aim=f"{s}_elbow"),
        RigJoint(f"{s}_elbow", _sided(s, ("forearm", "lowerarm", "elbow")), aim=f"{s}_wrist"),
        RigJoint(f"{s}_wrist", _sided(s, ("hand", "wrist")), helper=True),
    ]


HUMANOID_RIG: dict[str, RigJoint] = {
    j.key: j
    for j in [
        RigJoint("root", ("hips", "pelvis", "hip", "root"), required=True),
        # default: the joint the neck and both upper arms branch from (see _map_joints)
        RigJoint("chest", ("chest", "spine2", "upperchest", "spine1", "spine"), aim="neck"),
        RigJoint("neck", ("neck", "neck1"), aim="head"),
        RigJoint("head", ("head",), helper=True),
        *_side_joints("right"),
        *_side_joints("left"),
    ]
}

# names the exporter gives the humanoid's joints (Mixamo/SFU-style, no prefix)
HUMANOID_BVH_NAMES = {
    "root": "Hips", "chest": "Spine", "neck": "Neck",
    "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot",
    "right_shoulder": "RightArm", "right_elbow": "RightForeArm",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot",
    "left_shoulder": "LeftArm", "left_elbow": "LeftForeArm",
}


def _words(name: str) -> tuple[str, set[int]]:
    """A name's matching key (lower-case letters and digits after any ``ns:`` or ``a|b`` prefix)
    and the key positions where a word starts (after a separator, a case change or a digit)."""
    base = re.split(r"[:|]", name)[-1]
    key: list[str] = []
    starts: set[int] = set()
    prev = ""
    for ch in base:
        if ch.isascii() and ch.isalnum():
            if not prev or not (prev.isascii() and prev.isalnum()) or (prev.islower() and ch.isupper()) \
                    or prev.isdigit() != ch.isdigit():
                starts.add(len(key))
            key.append(ch.lower())
        prev = ch
    return "".join(key), starts


def _match_names(names: list[str], rig: dict[str, RigJoint], skip: set[str]) -> dict[str, int]:
    """Rig key -> source joint index, by name: exact keys first, then whole-word suffixes."""
    words = [_words(n) for n in names]
    found: dict[str, int] = {}
    used: set[int] = set()
    for exact in (True, False):
        for joint in rig.values():
            if joint.key in found or joint.key in skip:
                continue
            for candidate in joint.names:
                hits = [i for i, (key, starts) in enumerate(words) if i not in used and (
                    key == candidate if exact else
                    len(candidate) >= 3 and key.endswith(candidate) and len(key) - len(candidate) in starts)]
                if hits:
                    found[joint.key] = hits[0]
                    used.add(hits[0])
                    break
    return found


def load_joint_map(path: str | Path, rig: dict[str, RigJoint] = HUMANOID_RIG) -> dict[str, str | None]:
    """A map file: TOML or JSON, character joint -> source joint name ("" leaves the joint at rest)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise AwrMimicError(f"{path}: no such joint map") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AwrMimicError(f"{path}: cannot read joint map: {exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise AwrMimicError(f"{path}: line {exc.lineno}: malformed JSON: {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AwrMimicError(f"{path}: malformed TOML: {exc}") from None
    if isinstance(data, dict) and set(data) == {"joints"} and isinstance(data["joints"], dict):
        data = data["joints"]
    if not isinstance(data, dict):
        raise AwrMimicError(f"{path}: a joint map is a table of character joint = source joint name")
    out: dict[str, str | None] = {}
    for key, value in data.items():
        if key not in rig:
            raise unknown_name(f"character joint in {path}", key, rig)
        if not isinstance(value, str):
            raise AwrMimicError(f"{path}: {key} must be a source joint name (a string), got {value!r}")
        out[key] = value or None
    return out


@dataclass
class JointMapping:
    """Rig key -> source joint index, and how each one was chosen."""

    joints: dict[str, int]
    how: dict[str, str]  # rig key -> "name", "map file", "branch point" or "file ROOT"


def map_joints(bvh: BVH, overrides: dict[str, str | None] | None = None,
               rig: dict[str, RigJoint] = HUMANOID_RIG, map_source: str = "joint map") -> JointMapping:
    overrides = overrides or {}
    lower = {n.lower(): i for i, n in enumerate(bvh.names)}
    joints: dict[str, int] = {}
    how: dict[str, str] = {}
    for key, name in overrides.items():
        if name is None:
            continue
        index = bvh.names.index(name) if name in bvh.names else lower.get(name.lower())
        if index is None:
            raise unknown_name(f"joint in {bvh.source} (from {map_source}, for {key})", name, bvh.names)
        joints[key] = index
        how[key] = "map file"
    skip = set(overrides) | {"chest"}  # the chest comes from the tree, below
    for key, index in _match_names(bvh.names, rig, skip | set(joints)).items():
        if index not in joints.values():
            joints[key] = index
            how[key] = "name"
    if "root" not in joints and "root" not in overrides:
        joints["root"] = int(np.flatnonzero(bvh.parents < 0)[0])
        how["root"] = "file ROOT"
    if "chest" not in overrides and "chest" in rig:
        branch = _branch_point(bvh, [joints[k] for k in ("neck", "left_shoulder", "right_shoulder") if k in joints])
        if branch is not None and branch != joints.get("root") and branch not in joints.values() \
                and _is_ancestor(bvh, joints.get("root", -1), branch):
            joints["chest"], how["chest"] = branch, "branch point"
        else:
            by_name = _match_names(bvh.names, {"chest": rig["chest"]}, set())
            if by_name and by_name["chest"] not in joints.values():
                joints["chest"], how["chest"] = by_name["chest"], "name"
    missing = [j.key for j in rig.values() if j.required and j.key not in joints]
    if missing:
        raise BVHError(bvh.source, None, f"cannot find the source joint for {', '.join(missing)} "
                       f"(joints: {', '.join(bvh.names[:40])}{' ...' if len(bvh.names) > 40 else ''}); "
                       f"name them in a joint map: --map FILE (docs/motion_import.md)")
    return JointMapping(joints, how)


def _ancestors(bvh: BVH, joint: int) -> list[int]:
    out = []
    while joint >= 0:
        out.append(joint)
        joint = int(bvh.parents[joint])
    return out


def _is_ancestor(bvh: BVH, ancestor: int, joint: int) -> bool:
    return ancestor in _ancestors(bvh, joint)[1:]


def _branch_point(bvh: BVH, joints: list[int]) -> int | None:
    """The deepest common ancestor of at least two joints (excluding the joints themselves)."""
    if len(joints) < 2:
        return None
    common = None
    for j in joints:
        chain = _ancestors(bvh, int(bvh.parents[j]))
        common = chain if common is None else [a for a in common if a in chain]
    return common[0] if common else None


# ---------------------------------------------------------------- import


@dataclass
class ImportResult:
    clip: Clip
    mapping: dict[str, str]  # character joint -> source joint name
    how: dict[str, str]
    unmapped: list[str]  # actuated character joints left at rest
    scale: float  # character metres per source unit
    up_axis: str  # the source's up axis, e.g. "+Y"
    forward: np.ndarray  # the source's forward direction (rest pose)
    ground_shift: float  # metres added to the height
    source_fps: float


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector a onto unit vector b."""
    axis = np.cross(a, b)
    dot = float(a @ b)
    if dot < -1.0 + 1e-9:  # opposite: any half turn about a perpendicular axis
        perp = np.cross(a, np.eye(3)[int(np.argmin(np.abs(a)))])
        return quat.from_axis_angle(perp / np.linalg.norm(perp), math.pi)
    return quat.normalize(np.concatenate([axis, [1.0 + dot]]))


def _unit(v: np.ndarray, what: str, source: str) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if not np.all(np.isfinite(v)) or not math.isfinite(n):
        raise BVHError(source, None, f"{what} is too large to compute (check the OFFSET values)")
    if not n > 1e-9:
        raise BVHError(source, None, f"{what} has zero length in the rest pose")
    return v / n


def _snap_axis(v: np.ndarray) -> np.ndarray:
    axis = int(np.argmax(np.abs(v)))
    out = np.zeros(3)
    out[axis] = math.copysign(1.0, v[axis])
    return out


def _zero_pose(character):
    sk = character.skeleton
    rots = np.broadcast_to(quat.IDENTITY, (sk.num_links, 4))
    return sk.forward_kinematics(np.zeros(3), quat.IDENTITY, rots)


def _tip(character, link: int, zero) -> np.ndarray:
    """A leaf link's tip in the zero pose: twice its centre-of-mass offset from its joint."""
    sk = character.skeleton
    return zero.frame_pos[link] + quat.rotate(zero.frame_quat[link], 2.0 * sk.inertial_pos[link])


def _source_direction(bvh: BVH, rest: np.ndarray, joint: int, aim: int | None) -> np.ndarray:
    """A source bone's rest direction: towards its aim joint, else along its children and End Sites."""
    if aim is not None:
        return rest[aim] - rest[joint]
    parts = [bvh.offsets[c] for c in bvh.children(joint)] + list(bvh.end_sites[joint])
    return np.mean(parts, axis=0) if parts else np.zeros(3)


def bvh_to_clip(bvh: BVH, character, *, name: str | None = None, fps: float | None = None,
                scale: float | str = "auto", start: float | None = None, end: float | None = None,
                loop: str = "none", joint_map: dict[str, str | None] | None = None,
                map_source: str = "joint map", ground: str = "lowest", limits: str = "clip") -> ImportResult:
    """Retarget a parsed BVH onto `character` (the humanoid): see the module docstring."""
    # absurd but finite file values may overflow: the result is checked for finite numbers instead
    with np.errstate(over="ignore", invalid="ignore"):
        return _bvh_to_clip(bvh, character, name=name, fps=fps, scale=scale, start=start, end=end, loop=loop,
                            joint_map=joint_map, map_source=map_source, ground=ground, limits=limits)


def _bvh_to_clip(bvh: BVH, character, *, name, fps, scale, start, end, loop, joint_map, map_source, ground,
                 limits) -> ImportResult:
    rig = HUMANOID_RIG
    sk = character.skeleton
    names = sk.link_names
    absent = [k for k, j in rig.items() if not j.helper and k not in names]
    if absent:
        raise AwrMimicError(f"BVH import needs a humanoid rig; character {character.name!r} has no "
                            f"{', '.join(absent)} (only the humanoid is supported)")
    if character.up_axis != 1:
        raise AwrMimicError(f"BVH import maps onto y-up characters; {character.name!r} is z-up")
    if loop not in LOOP_MODES:
        raise AwrMimicError(f"--loop must be one of {', '.join(LOOP_MODES)}, got {loop!r}")
    if ground not in GROUND_MODES:
        raise AwrMimicError(f"--ground must be one of {', '.join(GROUND_MODES)}, got {ground!r}")
    if limits not in LIMIT_MODES:
        raise AwrMimicError(f"--limits must be one of {', '.join(LIMIT_MODES)}, got {limits!r}")
    source = bvh.source
    mapping = map_joints(bvh, joint_map, rig, map_source)
    src = mapping.joints

    # ---- frames to use
    times = np.arange(bvh.num_frames) * bvh.frame_time
    slack = 1e-3 * bvh.frame_time  # files round their frame time: 90 * 0.01666667 s is "1.5 s"
    lo = -np.inf if start is None else start - slack
    hi = np.inf if end is None else end + slack
    frames = np.flatnonzero((times >= lo) & (times <= hi))
    if len(frames) < 2:
        raise ClipError(f"{source}: --start/--end keep {len(frames)} frame(s) of {bvh.num_frames} "
                        f"({bvh.num_frames * bvh.frame_time:.3f} s at {1 / bvh.frame_time:.4g} fps); "
                        "a clip needs at least 2")
    pos, rot = bvh.forward_kinematics(slice(int(frames[0]), int(frames[-1]) + 1))
    rest = bvh.rest_positions()

    # ---- axes: snap up to a coordinate axis; right from the hips; C maps (forward, up, right) -> (x, y, z)
    feet = 0.5 * (rest[src["left_ankle"]] + rest[src["right_ankle"]])
    up = _snap_axis(_unit(rest[src["root"]] - feet, "ankles -> hips", source))
    right = rest[src["right_hip"]] - rest[src["left_hip"]]
    right = _unit(right - up * (right @ up), "left hip -> right hip (horizontally)", source)
    forward = np.cross(up, right)
    C = np.stack([forward, up, right])
    qC = quat.normalize(_matrix_quat(C))
    qC_inv = quat.conjugate(qC)

    # ---- scale: leg length, hip -> knee -> ankle
    zero = _zero_pose(character)
    P0 = zero.frame_pos
    link = {k: names.index(k) for k in rig if k in names}

    def leg(points, hip, knee, ankle):
        return np.linalg.norm(points[knee] - points[hip]) + np.linalg.norm(points[ankle] - points[knee])

    target_leg = np.mean([leg(P0, link[f"{s}_hip"], link[f"{s}_knee"], link[f"{s}_ankle"]) for s in ("left", "right")])
    source_leg = np.mean([leg(rest, src[f"{s}_hip"], src[f"{s}_knee"], src[f"{s}_ankle"]) for s in ("left", "right")])
    if scale == "auto":
        if not source_leg > 1e-9:
            raise BVHError(source, None, "the legs have zero length in the rest pose: cannot scale automatically")
        factor = float(target_leg / source_leg)
    else:
        factor = float(scale)
        if not (math.isfinite(factor) and factor > 0):
            raise AwrMimicError(f"--scale must be 'auto' or a positive number, got {show(scale)}")

    # ---- rest alignment per mapped link, and its rotation from the zero pose
    num = len(frames)
    desired: dict[int, np.ndarray] = {}  # link -> (F, 4) world rotation
    for key, joint in rig.items():
        if joint.helper or key == "root" or key not in src:
            continue
        k = link[key]
        aim_link = link.get(joint.aim)  # None for helper aims (head, toes): the link's tip instead
        target_dir = (P0[aim_link] if aim_link is not None else _tip(character, k, zero)) - P0[k]
        source_dir = C @ _source_direction(bvh, rest, src[key], src.get(joint.aim))
        if joint.flat:  # the humanoid is y-up (checked above); keep the horizontal part
            target_dir, source_dir = target_dir * [1.0, 0.0, 1.0], source_dir * [1.0, 0.0, 1.0]
        if np.linalg.norm(source_dir) > 1e-9 and np.linalg.norm(target_dir) > 1e-9:
            qB = _min_rotation(target_dir / np.linalg.norm(target_dir), source_dir / np.linalg.norm(source_dir))
        else:
            qB = quat.IDENTITY  # no bone to align (a joint without children): trust its rotation
        T = quat.multiply(quat.multiply(qC, rot[:, src[key]]), quat.multiply(qC_inv, qB))
        desired[k] = quat.multiply(T, zero.frame_quat[k])

    # ---- walk the character's tree, parents first: local rotations; hinges keep their clipped twist
    root_quat = quat.multiply(quat.multiply(qC, rot[:, src["root"]]), qC_inv)
    base_quat = quat.multiply(root_quat, sk.base_inertial_quat)
    world = np.empty((num, sk.num_links, 4))
    local = np.broadcast_to(quat.IDENTITY, (num, sk.num_links, 4)).copy()
    angles = np.zeros((num, sk.num_links))
    for i in range(sk.num_links):
        parent = sk.parents[i]
        parent_com = base_quat if parent < 0 else quat.multiply(world[:, parent], sk.inertial_quat[parent])
        frame = quat.multiply(parent_com, sk.parent_quat[i])
        if i in desired and sk.joint_types[i] == SPHERICAL:
            local[:, i] = quat.multiply(quat.conjugate(frame), desired[i])
        elif i in desired and sk.joint_types[i] == REVOLUTE:
            q = quat.multiply(quat.conjugate(frame), desired[i])
            q = np.where(q[:, 3:4] < 0.0, -q, q)
            axis = sk.joint_axes[i] / np.linalg.norm(sk.joint_axes[i])
            twist = 2.0 * np.arctan2(q[:, :3] @ axis, q[:, 3])
            lower, upper = sk.joint_limits[i]
            if limits == "clip" and lower <= upper:  # pybullet enforces URDF limits: stay reachable
                twist = np.clip(twist, lower, upper)
            angles[:, i] = twist
            local[:, i] = quat.from_axis_angle(axis, twist)
        world[:, i] = quat.multiply(frame, local[:, i])

    # ---- root position: the hips' midpoint follows the source's
    hips_source = 0.5 * (pos[:, src["left_hip"]] + pos[:, src["right_hip"]])
    hips_target = 0.5 * (P0[link["left_hip"]] + P0[link["right_hip"]])
    root_pos = factor * hips_source @ C.T - quat.rotate(root_quat, hips_target)

    layout = character.layout
    clip = Clip(
        name=name or Path(source).stem,
        source=str(source),
        loop="none",
        layout=layout,
        frame_durations=np.r_[np.full(num - 1, bvh.frame_time), 0.0],
        root_pos=root_pos,
        root_quat=quat.make_continuous(root_quat),
        joint_quats=quat.make_continuous(local[:, layout.spherical]),
        joint_angles=angles[:, layout.revolute],
    )
    if fps is not None:
        if not (math.isfinite(fps) and fps > 0):
            raise AwrMimicError(f"--fps must be a positive number, got {show(fps)}")
        if abs(fps * bvh.frame_time - 1.0) > 1e-6:
            clip = resample(clip, fps)
    clip.loop = loop
    shift = 0.0
    if ground == "lowest":
        shift = -float(foot_heights(character, clip).min())
    clip = Clip(name=clip.name, source=clip.source, loop=loop, layout=layout,
                frame_durations=clip.frame_durations, root_pos=clip.root_pos + np.array([0.0, shift, 0.0]),
                root_quat=clip.root_quat, joint_quats=clip.joint_quats, joint_angles=clip.joint_angles)
    arrays = (clip.root_pos, clip.root_quat, clip.joint_quats, clip.joint_angles)
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise BVHError(source, None, "the motion gives non-finite poses (values too large?)")
    actuated = [n for _, _, n in layout.joints]
    return ImportResult(
        clip=clip,
        mapping={k: bvh.names[src[k]] for k in rig if k in src},
        how=mapping.how,
        unmapped=[n for n in actuated if link[n] not in desired],
        scale=factor,
        up_axis=("+" if up.sum() > 0 else "-") + "XYZ"[int(np.argmax(np.abs(up)))],
        forward=forward,
        ground_shift=shift,
        source_fps=1.0 / bvh.frame_time,
    )


def _matrix_quat(m: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(m).as_quat()


def resample(clip: Clip, fps: float) -> Clip:
    """The clip at a uniform `fps`, by lerp/slerp between its frames (the end is kept within a frame)."""
    num = math.floor(clip.duration * fps + 1e-6) + 1
    if num < 2:
        raise ClipError(f"{clip.source}: {clip.duration:.3f} s is too short for {fps:g} fps")
    times = np.arange(num) / fps
    plain = Clip(name=clip.name, source=clip.source, loop="none", layout=clip.layout,
                 frame_durations=clip.frame_durations, root_pos=clip.root_pos, root_quat=clip.root_quat,
                 joint_quats=clip.joint_quats, joint_angles=clip.joint_angles)
    s = plain.sample(times)
    return Clip(name=clip.name, source=clip.source, loop=clip.loop, layout=clip.layout,
                frame_durations=np.r_[np.full(num - 1, 1.0 / fps), 0.0], root_pos=s.root_pos,
                root_quat=quat.make_continuous(s.root_quat), joint_quats=quat.make_continuous(s.joint_quats),
                joint_angles=s.joint_angles)


# ---------------------------------------------------------------- ground


@lru_cache(maxsize=8)
def _shapes(character):
    from awr_mimic.anim.shapes import character_shapes

    return character_shapes(character)


def foot_links(character) -> list[int]:
    """The links allowed to touch the ground by default (the feet); all links if none are named."""
    allowed = character.contact_default.get("allowed")
    if allowed:
        return [int(i) for i in character.link_indices(allowed)]
    return list(range(character.skeleton.num_links))


def foot_heights(character, clip: Clip) -> np.ndarray:
    """(F,) height of the lowest point of the feet at each key frame."""
    from awr_mimic.anim.shapes import lowest_points

    feet = set(foot_links(character))
    shapes = [s for s in _shapes(character) if s.link in feet]
    fk, base_pos, base_quat = pose_fk(character, clip)
    return lowest_points(shapes, fk, base_pos, base_quat, character.up_axis)


# ---------------------------------------------------------------- export


def _export_frame(character) -> np.ndarray:
    """Rotation from the character's world (faces +x, its up axis) to BVH's (faces +z, y up)."""
    to_y_up = quat.from_axis_angle(np.array([1.0, 0, 0]), -math.pi / 2) if character.up_axis == 2 else quat.IDENTITY
    return quat.multiply(quat.from_axis_angle(np.array([0, 1.0, 0]), -math.pi / 2), to_y_up)


def uniform(clip: Clip) -> Clip:
    """The clip itself if its frames are evenly spaced, else resampled at its median frame rate."""
    durations = clip.frame_durations[:-1]
    dt = float(np.median(durations))
    if np.abs(durations - dt).max() <= 1e-6 * max(dt, 1e-9) + 1e-9:
        return clip
    return resample(clip, 1.0 / dt)


def clip_to_bvh(character, clip: Clip, units: str = "cm", digits: int = 6) -> BVH:
    """The clip as BVH: the character's zero pose is the rest pose, faces +z, y up."""
    if units not in UNITS:
        raise AwrMimicError(f"--units must be one of {', '.join(UNITS)}, got {units!r}")
    unit = UNITS[units]
    sk = character.skeleton
    clip = uniform(clip)
    qE = _export_frame(character)
    qE_inv = quat.conjugate(qE)
    zero = _zero_pose(character)
    humanoid = character.name == "humanoid"

    def bvh_name(i: int) -> str:
        if i < 0:
            return "Hips" if humanoid else "base"
        return HUMANOID_BVH_NAMES.get(sk.link_names[i], sk.link_names[i]) if humanoid else sk.link_names[i]

    # BVH joints: the base, then every moving link under its nearest moving ancestor (fixed links merge)
    joints = [-1]
    bvh_parent: dict[int, int] = {-1: -1}
    for i in range(sk.num_links):
        ancestor = sk.parents[i]
        while ancestor >= 0 and sk.joint_types[ancestor] == FIXED:
            ancestor = sk.parents[ancestor]
        bvh_parent[i] = int(ancestor)
        if sk.joint_types[i] != FIXED:
            joints.append(i)
    index = {link: j for j, link in enumerate(joints)}
    zero_pos = {-1: np.zeros(3), **{i: zero.frame_pos[i] for i in range(sk.num_links)}}
    zero_quat = {-1: quat.IDENTITY, **{i: zero.frame_quat[i] for i in range(sk.num_links)}}

    def offset(child: int, parent: int) -> np.ndarray:
        return quat.rotate(qE, zero_pos[child] - zero_pos[parent]) * unit

    offsets = [np.zeros(3)] + [offset(i, bvh_parent[i]) for i in joints[1:]]
    parents = [-1] + [index[bvh_parent[i]] for i in joints[1:]]
    end_sites: list[list[np.ndarray]] = [[] for _ in joints]
    has_child = {p for p in parents if p >= 0}
    for j, link in enumerate(joints):
        if j in has_child:
            continue
        fixed_children = [i for i in range(sk.num_links) if sk.joint_types[i] == FIXED and bvh_parent[i] == link]
        if fixed_children:
            end_sites[j] = [offset(i, link) for i in fixed_children]
        elif link >= 0:
            end_sites[j] = [quat.rotate(qE, _tip(character, link, zero) - zero_pos[link]) * unit]

    # motion: G_j = E W_j W0_j^-1 E^-1 (the world rotation from the rest pose), local = G_parent^-1 G_j
    fk, _, _ = pose_fk(character, clip)
    num = clip.num_frames
    G = np.empty((num, len(joints), 4))
    for j, link in enumerate(joints):
        W = clip.root_quat if link < 0 else fk.frame_quat[:, link]
        G[:, j] = quat.multiply(quat.multiply(qE, W), quat.multiply(quat.conjugate(zero_quat[link]), qE_inv))
    columns = [quat.rotate(qE, clip.root_pos) * unit]
    for j in range(len(joints)):
        rel = G[:, j] if parents[j] < 0 else quat.multiply(quat.conjugate(G[:, parents[j]]), G[:, j])
        euler = quat_to_euler(rel, "".join(c[0] for c in EXPORT_ROTATION_ORDER))
        columns.append(np.rad2deg(np.unwrap(np.deg2rad(euler), axis=0)))  # continuous curves in Blender
    channels = [("Xposition", "Yposition", "Zposition") + EXPORT_ROTATION_ORDER] + [EXPORT_ROTATION_ORDER] * (len(joints) - 1)
    return BVH(
        names=[bvh_name(i) for i in joints],
        parents=np.array(parents, dtype=np.int64),
        offsets=np.array(offsets),
        channels=channels,
        end_sites=[np.array(e).reshape(-1, 3) for e in end_sites],
        frame_time=float(clip.frame_durations[0]),
        motion=np.concatenate(columns, axis=1),
        source=clip.source,
    )
