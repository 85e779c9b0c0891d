"""Bring your own mocap: a hand-written BVH (a T-pose skeleton with other bone names, other lengths,
Z up, facing -Y, centimetres, 60 fps) walking; imported onto the humanoid, played in the env, trained."""
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import awr_mimic
from awr_mimic.anim import quat
from awr_mimic.anim.bvh import parse_bvh
from awr_mimic.anim.bvh_retarget import (
    bvh_to_clip,
    foot_heights,
    load_joint_map,
    pose_fk,
)
from awr_mimic.characters import get_character, load_clip
from awr_mimic.cli import main
from awr_mimic.errors import AwrMimicError

# 3ds Max Biped names (spaces in names), clavicles, toes and two spine joints the humanoid lacks;
# legs 91 cm (the humanoid's: 83 cm), arms 54 cm. Z is up, the actor faces -Y, its left is +X.
# (name, parent, offset in cm, channels)
ROT = "Zrotation Xrotation Yrotation"
SKELETON = [
    ("Bip01 Pelvis", None, (0, 0, 0), "Xposition Yposition Zposition " + ROT),
    ("Bip01 Spine", "Bip01 Pelvis", (0, -1, 12), "Xposition Yposition Zposition " + ROT),  # 6 channels
    ("Bip01 Spine1", "Bip01 Spine", (0, 0, 18), ROT),
    ("Bip01 Neck", "Bip01 Spine1", (0, 1, 22), ROT),
    ("Bip01 Head", "Bip01 Neck", (0, -1, 10), ROT),
    ("Bip01 L Clavicle", "Bip01 Spine1", (4, 0, 18), ROT),
    ("Bip01 L UpperArm", "Bip01 L Clavicle", (14, 0, 0), ROT),
    ("Bip01 L Forearm", "Bip01 L UpperArm", (29, 0, 0), ROT),
    ("Bip01 L Hand", "Bip01 L Forearm", (25, 0, 0), ROT),
    ("Bip01 R Clavicle", "Bip01 Spine1", (-4, 0, 18), ROT),
    ("Bip01 R UpperArm", "Bip01 R Clavicle", (-14, 0, 0), ROT),
    ("Bip01 R Forearm", "Bip01 R UpperArm", (-29, 0, 0), ROT),
    ("Bip01 R Hand", "Bip01 R Forearm", (-25, 0, 0), ROT),
    ("Bip01 L Thigh", "Bip01 Pelvis", (10, 0, -4), ROT),
    ("Bip01 L Calf", "Bip01 L Thigh", (0, 0, -47), ROT),
    ("Bip01 L Foot", "Bip01 L Calf", (0, 0, -44), ROT),
    ("Bip01 L Toe0", "Bip01 L Foot", (0, -14, -7), ROT),
    ("Bip01 R Thigh", "Bip01 Pelvis", (-10, 0, -4), ROT),
    ("Bip01 R Calf", "Bip01 R Thigh", (0, 0, -47), ROT),
    ("Bip01 R Foot", "Bip01 R Calf", (0, 0, -44), ROT),
    ("Bip01 R Toe0", "Bip01 R Foot", (0, -14, -7), ROT),
]
END_SITES = {"Bip01 Head": (0, 0, 18), "Bip01 L Hand": (8, 0, 0), "Bip01 R Hand": (-8, 0, 0),
             "Bip01 L Toe0": (0, -5, 0), "Bip01 R Toe0": (0, -5, 0)}
FPS, SECONDS, SPEED, PERIOD = 60, 2.2, 120.0, 1.1  # cm/s forward, s per stride


def _about(axis: str, deg) -> Rotation:
    return Rotation.from_euler(axis, np.asarray(deg, dtype=float)[:, None], degrees=True)


def _rx(deg):
    return _about("x", deg)


def walking_rotations(t: np.ndarray) -> dict[str, Rotation]:
    """Local rotations of a simple walk, authored with scipy in the T-pose's axes (x left, -y forward)."""
    w = 2 * np.pi * t / PERIOD
    rot = {}
    for side, phase, sign in (("L", 0.0, 1.0), ("R", np.pi, -1.0)):
        hip = 25 * np.sin(w + phase)  # flexion: the thigh swings forward (-y), a rotation about -x
        knee = 5 + 35 * np.clip(np.sin(w + phase + 1.2), 0, None)  # the shank folds back (+y)
        rot[f"Bip01 {side} Thigh"] = _rx(-hip)
        rot[f"Bip01 {side} Calf"] = _rx(knee)
        rot[f"Bip01 {side} Foot"] = _rx(hip - knee)  # the foot stays level
        # arms: down from the T-pose (about the forward axis), then swinging against the same-side leg
        down = _about("y", sign * 80 * np.ones_like(t))
        rot[f"Bip01 {side} UpperArm"] = _rx(15 * np.sin(w + phase)) * down
        rot[f"Bip01 {side} Forearm"] = _about("z", -sign * 25 * np.ones_like(t))
    rot["Bip01 Pelvis"] = _about("z", 5 * np.sin(w))
    rot["Bip01 Spine"] = _rx(4 * np.ones_like(t))  # a slight forward lean
    rot["Bip01 Spine1"] = _about("z", -4 * np.sin(w))
    return rot


def tpose_walk_bvh(names: dict[str, str] | None = None) -> str:
    names = names or {}
    children = {}
    for name, parent, _, _ in SKELETON:
        children.setdefault(parent, []).append(name)
    spec = {s[0]: s for s in SKELETON}
    lines = ["HIERARCHY"]

    def emit(name, depth):
        _, parent, offset, channels = spec[name]
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if parent is None else 'JOINT'} {names.get(name, name)}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}")
        lines.append(f"{pad}  CHANNELS {len(channels.split())} {channels}")
        for child in children.get(name, []):
            emit(child, depth + 1)
        if name in END_SITES:
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET {' '.join(map(str, END_SITES[name]))}",
                          pad + "  }"])
        lines.append(pad + "}")

    emit("Bip01 Pelvis", 0)
    t = np.arange(int(SECONDS * FPS) + 1) / FPS
    rotations = walking_rotations(t)
    columns = []
    for name, parent, offset, channels in SKELETON:  # the file lists joints depth first, as SKELETON does
        if channels.startswith("Xposition"):
            if parent is None:  # walking forward (-y), bobbing
                columns.append(np.stack([np.zeros_like(t), -SPEED * t, 101 + 1.5 * np.cos(4 * np.pi * t / PERIOD)], 1))
            else:
                columns.append(np.broadcast_to(offset, (len(t), 3)))
        r = rotations.get(name, Rotation.identity(len(t)))
        columns.append(r.as_euler("ZXY", degrees=True))  # channels Zrotation Xrotation Yrotation (intrinsic)
    motion = np.concatenate(columns, axis=1)
    lines += ["MOTION", f"Frames: {len(t)}", f"Frame Time: {1 / FPS:.8f}"]
    lines += [" ".join(f"{v:.5f}" for v in row) for row in motion]
    return "\n".join(lines) + "\n"


def test_authoring_order_matches_the_file():
    bvh = parse_bvh(tpose_walk_bvh(), "tpose.bvh")
    assert bvh.names == [s[0] for s in SKELETON] and bvh.num_frames == 133


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mocap")
    (folder / "tpose_walk.bvh").write_text(tpose_walk_bvh())
    return folder


def test_tpose_walk_imports_onto_the_humanoid(imported, capsys):
    clip_file = imported / "walk30.txt"
    assert main(["motion", "import", str(imported / "tpose_walk.bvh"), "--out", str(clip_file), "--fps", "30",
                 "--loop", "wrap"]) == 0
    out = capsys.readouterr().out
    assert "21 joints, 133 frames at 60 fps; up +Z, facing -Y" in out
    for line in ("root           <- Bip01 Pelvis  (name)", "chest          <- Bip01 Spine1  (branch point)",
                 "right_shoulder <- Bip01 R UpperArm", "left_elbow     <- Bip01 L Forearm",
                 "right_knee     <- Bip01 R Calf", "left_ankle     <- Bip01 L Foot"):
        assert line in out
    assert "left at rest" not in out  # every actuated joint has a source
    assert f"play it:  awr-mimic view --character humanoid --clip {clip_file}" in out

    humanoid = get_character("humanoid")
    clip = load_clip(humanoid, str(clip_file))
    assert clip.num_frames == 67 and clip.fps == pytest.approx(30, rel=1e-4) and clip.loop == "wrap"  # 2.2 s
    fk = pose_fk(humanoid, clip)[0]
    link = humanoid.skeleton.link_index
    # it walks along +x at 120 cm/s scaled by the leg lengths (83.1 / 91 cm)
    speed = (clip.root_pos[-1] - clip.root_pos[0]) / clip.duration
    np.testing.assert_allclose(speed, [1.2 * 0.8314 / 0.91, 0, 0], atol=0.01)
    # rest-pose correction: the source's T-pose arms come out hanging down (the source lowers them 80 deg)
    for side in ("left", "right"):
        drop = fk.frame_pos[:, link(f"{side}_shoulder"), 1] - fk.frame_pos[:, link(f"{side}_wrist"), 1]
        assert drop.min() > 0.35
    # the feet: their lowest point over the clip on the ground, and the feet level (flat) at every frame
    assert abs(foot_heights(humanoid, clip).min()) < 1e-5
    for side in ("left", "right"):
        sole = quat.rotate(fk.frame_quat[:, link(f"{side}_ankle")], np.array([0, 1.0, 0]))
        assert sole[:, 1].min() > np.cos(np.radians(1.0))
    # knees and elbows bend the humanoid's way (knee <= 0, elbow >= 0), inside the limits
    angles = dict(zip([n for _, t, n in humanoid.layout.joints if t == "revolute"], clip.joint_angles.T))
    assert angles["left_knee"].min() < -0.6 and angles["left_knee"].max() <= 0
    np.testing.assert_allclose(angles["right_elbow"], np.radians(25), atol=1e-3)
    np.testing.assert_allclose(angles["left_elbow"], np.radians(25), atol=1e-3)


def test_every_bone_points_where_the_source_bone_points(imported):
    """The retargeting invariant: each humanoid bone has the source bone's direction (after the
    axis change), at every frame, though the source's lengths and rest pose differ."""
    bvh = parse_bvh((imported / "tpose_walk.bvh").read_text(), "tpose_walk.bvh")
    humanoid = get_character("humanoid")
    result = bvh_to_clip(bvh, humanoid)
    pos, _ = bvh.forward_kinematics()
    C = np.array([[0, -1.0, 0], [0, 0, 1.0], [-1.0, 0, 0]])  # source forward (-y), up (z), right (-x) -> x, y, z
    fk = pose_fk(humanoid, result.clip)[0]
    link = humanoid.skeleton.link_index
    bones = {("right_hip", "right_knee"): ("Bip01 R Thigh", "Bip01 R Calf"),
             ("left_knee", "left_ankle"): ("Bip01 L Calf", "Bip01 L Foot"),
             ("right_shoulder", "right_elbow"): ("Bip01 R UpperArm", "Bip01 R Forearm"),
             ("left_elbow", "left_wrist"): ("Bip01 L Forearm", "Bip01 L Hand"),
             ("chest", "neck"): ("Bip01 Spine1", "Bip01 Neck")}
    for (a, b), (sa, sb) in bones.items():
        mine = fk.frame_pos[:, link(b)] - fk.frame_pos[:, link(a)]
        theirs = (pos[:, bvh.index(sb)] - pos[:, bvh.index(sa)]) @ C.T
        cos = np.sum(mine * theirs, -1) / np.linalg.norm(mine, axis=-1) / np.linalg.norm(theirs, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos.min(), -1, 1))) < 0.01, (a, b)
    assert result.up_axis == "+Z" and result.scale == pytest.approx(0.8314 / 91, rel=1e-3)
    # quaternion signs continuous from frame to frame (the importer's own output, before any file)
    for q in (result.clip.root_quat, result.clip.joint_quats):
        assert np.all(np.sum(q[1:] * q[:-1], axis=-1) > 0)


def test_imported_clip_plays_in_the_env_and_trains(imported, tmp_path, capsys):
    clip_file = imported / "walk_play.txt"
    assert main(["motion", "import", str(imported / "tpose_walk.bvh"), "--out", str(clip_file), "--fps", "30",
                 "--loop", "wrap"]) == 0
    env = awr_mimic.make_env(character="humanoid", clip=str(clip_file))
    try:
        obs, _ = env.reset(seed=0)
        rewards = []
        for _ in range(20):  # PD tracking of the imported reference for a few steps
            obs, reward, terminated, truncated, _ = env.step(env.reference_action())
            assert np.all(np.isfinite(obs))
            rewards.append(reward)
            if terminated or truncated:
                break
        assert len(rewards) >= 5 and 0 < np.mean(rewards) <= 1
    finally:
        env.close()
    run = tmp_path / "run"
    small = ["--samples-per-iter", "150", "--actor-steps", "4", "--critic-steps", "4", "--hidden", "32",
             "--eval-every", "1", "--eval-episodes", "1", "--no-progress", "--workers", "0"]
    capsys.readouterr()
    assert main(["train", "--character", "humanoid", "--clip", str(clip_file), "--samples", "300",
                 "--out", str(run), *small]) == 0
    rows = (run / "progress.csv").read_text().splitlines()
    assert len(rows) >= 3 and (run / "checkpoint.pt").exists()


def test_custom_names_need_a_map_file(imported, tmp_path, capsys):
    """Bones named bone_00... match nothing: the import says so in one line; a --map file fixes it."""
    custom = {name: f"bone_{i:02d}" for i, (name, *_rest) in enumerate(SKELETON)}
    (tmp_path / "custom.bvh").write_text(tpose_walk_bvh(custom))
    assert main(["motion", "import", str(tmp_path / "custom.bvh"), "--out", str(tmp_path / "c.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot find the source joint for right_hip, right_knee, right_ankle, left_hip" in err
    assert "--map FILE" in err and len(err.splitlines()) == 1

    keys = {"root": "Bip01 Pelvis", "neck": "Bip01 Neck", "head": "Bip01 Head", "chest": "Bip01 Spine1",
            "right_hip": "Bip01 R Thigh", "right_knee": "Bip01 R Calf", "right_ankle": "Bip01 R Foot",
            "right_shoulder": "Bip01 R UpperArm", "right_elbow": "Bip01 R Forearm", "right_wrist": "Bip01 R Hand",
            "left_hip": "Bip01 L Thigh", "left_knee": "Bip01 L Calf", "left_ankle": "Bip01 L Foot",
            "left_shoulder": "Bip01 L UpperArm", "left_elbow": "Bip01 L Forearm", "left_wrist": "Bip01 L Hand"}
    toml_map = tmp_path / "map.toml"
    toml_map.write_text("".join(f'{k} = "{custom[v]}"\n' for k, v in keys.items()))
    json_map = tmp_path / "map.json"
    json_map.write_text(json.dumps({"joints": {k: custom[v].upper() for k, v in keys.items()}}))  # any case
    results = []
    for joint_map in (toml_map, json_map):
        out = tmp_path / f"{joint_map.suffix[1:]}.txt"
        assert main(["motion", "import", str(tmp_path / "custom.bvh"), "--out", str(out), "--map", str(joint_map)]) == 0
        assert "right_hip      <- bone_17  (map file)" in capsys.readouterr().out
        results.append(load_clip("humanoid", str(out)))
    named = bvh_to_clip(parse_bvh(tpose_walk_bvh(), "named.bvh"), get_character("humanoid")).clip
    for clip in results:  # the same motion as with the Bip01 names matched by default
        np.testing.assert_allclose(clip.joint_angles, named.joint_angles, atol=1e-5)
        np.testing.assert_allclose(clip.root_pos, named.root_pos, atol=1e-5)


def test_map_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('right_kne = "Calf"\n')
    with pytest.raises(AwrMimicError, match="unknown character joint in .*'right_kne'; did you mean 'right_knee'"):
        load_joint_map(bad)
    bad.write_text('right_knee = 3\n')
    with pytest.raises(AwrMimicError, match="right_knee must be a source joint name"):
        load_joint_map(bad)
    bad.write_text('right_knee = "Nope"\n')
    bvh = parse_bvh(tpose_walk_bvh(), "named.bvh")
    with pytest.raises(AwrMimicError, match="unknown joint in named.bvh .*'Nope'"):
        bvh_to_clip(bvh, get_character("humanoid"), joint_map=load_joint_map(bad))


def test_crop_scale_and_options(imported):
    bvh = parse_bvh((imported / "tpose_walk.bvh").read_text(), "tpose_walk.bvh")
    humanoid = get_character("humanoid")
    cropped = bvh_to_clip(bvh, humanoid, start=0.5, end=1.5, ground="keep", scale=0.01)
    assert cropped.clip.num_frames == 61 and cropped.scale == 0.01
    # heights kept and scaled: the humanoid's root follows the hips, 4 cm below a pelvis at 101 +- 1.5 cm
    np.testing.assert_allclose([cropped.clip.root_pos[:, 1].min(), cropped.clip.root_pos[:, 1].max()],
                               [0.955, 0.985], atol=2e-4)
    with pytest.raises(AwrMimicError, match="keep 0 frame"):
        bvh_to_clip(bvh, humanoid, start=5.0)
    with pytest.raises(AwrMimicError, match="--scale must be"):
        bvh_to_clip(bvh, humanoid, scale=-1.0)
    with pytest.raises(AwrMimicError, match="only the humanoid is supported"):
        bvh_to_clip(bvh, get_character("dog"))


def _chain(prefix: str, side: str, sign: float) -> list[tuple[str, str, tuple]]:
    """A leg and an arm of a Y-up, +z-facing T-pose (x is the actor's left): (name, parent, offset)."""
    p = prefix
    return [
        (f"{p}{side}UpLeg", f"{p}Hips", (sign * 9, -5, 0)), (f"{p}{side}Leg", f"{p}{side}UpLeg", (0, -42, 0)),
        (f"{p}{side}Foot", f"{p}{side}Leg", (0, -41, 0)), (f"{p}{side}ToeBase", f"{p}{side}Foot", (0, -6, 13)),
        (f"{p}{side}Shoulder", f"{p}Spine2", (sign * 4, 18, 0)),
        (f"{p}{side}Arm", f"{p}{side}Shoulder", (sign * 12, 0, 0)),
        (f"{p}{side}ForeArm", f"{p}{side}Arm", (sign * 27, 0, 0)),
        (f"{p}{side}Hand", f"{p}{side}ForeArm", (sign * 25, 0, 0)),
        (f"{p}{side}HandIndex1", f"{p}{side}Hand", (sign * 9, 0, 1)),
    ]


def _mixamo(prefix="mixamorig:"):
    p = prefix
    return [(f"{p}Hips", None, (0, 95, 0)), (f"{p}Spine", f"{p}Hips", (0, 10, 0)), (f"{p}Spine1", f"{p}Spine", (0, 12, 0)),
            (f"{p}Spine2", f"{p}Spine1", (0, 13, 0)), (f"{p}Neck", f"{p}Spine2", (0, 16, 0)),
            (f"{p}Head", f"{p}Neck", (0, 9, 0)), (f"{p}HeadTop_End", f"{p}Head", (0, 19, 3)),
            *_chain(p, "Left", 1.0), *_chain(p, "Right", -1.0)]


def _lafan():  # LAFAN1 (Ubisoft La Forge): like Mixamo without the prefix, LeftToe for the toes
    return [(n.replace("ToeBase", "Toe").replace("HeadTop_End", "HeadEnd"), p, o) for n, p, o in _mixamo("")]


def _renamed(names: dict[str, str]):
    """The Mixamo-shaped hierarchy under other names (the left side's; the right's mirror them)."""
    def rename(n):
        if n is None:
            return None
        for side, short, upper in (("Left", "l", "L"), ("Right", "r", "R")):
            if n.startswith(side):
                return names[n[len(side):]].format(s=short, S=upper)
        return names[n]
    return [(rename(n), rename(p), o) for n, p, o in _mixamo("")]


DAZ = {"Hips": "hip", "Spine": "abdomen", "Spine1": "abdomen2", "Spine2": "chest", "Neck": "neck",
       "Head": "head", "HeadTop_End": "headEnd", "Shoulder": "{s}Collar", "Arm": "{s}Shldr",
       "ForeArm": "{s}ForeArm", "Hand": "{s}Hand", "HandIndex1": "{s}Index1", "UpLeg": "{s}Thigh",
       "Leg": "{s}Shin", "Foot": "{s}Foot", "ToeBase": "{s}Toe"}
BLENDER = {"Hips": "spine", "Spine": "spine.001", "Spine1": "spine.002", "Spine2": "spine.003", "Neck": "spine.004",
           "Head": "spine.006", "HeadTop_End": "spine.007", "Shoulder": "shoulder.{S}", "Arm": "upper_arm.{S}",
           "ForeArm": "forearm.{S}", "Hand": "hand.{S}", "HandIndex1": "f_index.01.{S}", "UpLeg": "thigh.{S}",
           "Leg": "shin.{S}", "Foot": "foot.{S}", "ToeBase": "toe.{S}"}


def _cmu():  # CMU mocap in the cgspeed BVH conversion: hip joints, LowerBack, Spine1 as the chest, Neck1
    joints = [("Hips", None, (0, 95, 0)), ("LHipJoint", "Hips", (0, 0, 0)), ("RHipJoint", "Hips", (0, 0, 0)),
              ("LowerBack", "Hips", (0, 0, 0)), ("Spine", "LowerBack", (0, 12, 0)), ("Spine1", "Spine", (0, 12, 0)),
              ("Neck", "Spine1", (0, 20, 0)), ("Neck1", "Neck", (0, 6, 0)), ("Head", "Neck1", (0, 6, 0))]
    for side, sign, hip in (("Left", 1.0, "LHipJoint"), ("Right", -1.0, "RHipJoint")):
        for name, parent, offset in _chain("", side, sign):
            parent = {"Hips": hip, "Spine2": "Spine1"}.get(parent, parent)
            joints.append((name, parent, offset))
    return joints


def skeleton_bvh(joints) -> str:
    """A BVH of a skeleton standing still for two frames (depth-first order, as listed)."""
    children = {}
    for name, parent, _ in joints:
        children.setdefault(parent, []).append(name)
    offsets = {n: o for n, _, o in joints}
    lines, count = ["HIERARCHY"], [0]

    def emit(name, depth):
        root = depth == 0
        lines.extend([("ROOT " if root else "JOINT ") + name, "{", "OFFSET {:g} {:g} {:g}".format(*offsets[name]),
                      "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if root
                      else "CHANNELS 3 Zrotation Xrotation Yrotation"])
        count[0] += 6 if root else 3
        for child in children.get(name, []):
            emit(child, depth + 1)
        if name not in children:
            lines.extend(["End Site", "{", "OFFSET 0 5 0", "}"])
        lines.append("}")

    emit(children[None][0], 0)
    values = " ".join(["0"] * count[0])
    return "\n".join(lines + ["MOTION", "Frames: 2", "Frame Time: 0.0333333", values, values]) + "\n"


@pytest.mark.parametrize("skeleton, expected", [
    (_cmu(), {"chest": "Spine1", "neck": "Neck", "head": "Head", "left_toe": "LeftToeBase"}),
    (_lafan(), {"chest": "Spine2", "neck": "Neck", "head": "Head", "left_toe": "LeftToe"}),
    (_mixamo(), {"chest": "mixamorig:Spine2", "neck": "mixamorig:Neck", "head": "mixamorig:Head",
                 "left_toe": "mixamorig:LeftToeBase"}),
    (_renamed(DAZ), {"root": "hip", "chest": "chest", "neck": "neck", "left_hip": "lThigh", "left_knee": "lShin",
                     "left_ankle": "lFoot", "left_shoulder": "lShldr", "left_elbow": "lForeArm",
                     "right_wrist": "rHand", "right_toe": "rToe"}),
    # Rigify's metarig numbers its spine: the root is the file's ROOT, the chest the branch point
    (_renamed(BLENDER), {"root": "spine", "chest": "spine.003", "left_hip": "thigh.L", "left_knee": "shin.L",
                         "left_ankle": "foot.L", "left_shoulder": "upper_arm.L", "left_elbow": "forearm.L",
                         "right_wrist": "hand.R", "right_toe": "toe.R"}),
], ids=["CMU", "LAFAN1", "Mixamo", "DAZ", "Blender"])
def test_default_mapping_of_common_skeletons(skeleton, expected):
    """The documented tables (docs/motion_import.md): upper arms, not the clavicles called
    *Shoulder; the chest where the neck and arms branch. Standing still in its T-pose rest pose,
    the source gives the humanoid a T-pose: its zero pose with the upper arms raised sideways."""
    from awr_mimic.anim.bvh_retarget import map_joints

    bvh = parse_bvh(skeleton_bvh(skeleton), "skeleton.bvh")
    prefix = "mixamorig:" if bvh.names[0].startswith("mixamorig:") else ""
    mapping = {key: bvh.names[i] for key, i in map_joints(bvh).joints.items()}
    assert {k: mapping.get(k) for k in expected} == expected
    for side in ("Left", "Right") if "LeftArm" in "".join(bvh.names) else ():
        s = side.lower()
        for key, name in ((f"{s}_hip", "UpLeg"), (f"{s}_knee", "Leg"), (f"{s}_ankle", "Foot"),
                          (f"{s}_shoulder", "Arm"), (f"{s}_elbow", "ForeArm"), (f"{s}_wrist", "Hand")):
            assert mapping[key] == f"{prefix}{side}{name}", key
    assert mapping["root"] in (f"{prefix}Hips", "hip", "spine")
    humanoid = get_character("humanoid")
    result = bvh_to_clip(bvh, humanoid)
    assert result.up_axis == "+Y" and np.allclose(result.forward, [0, 0, 1])
    clip = result.clip
    shoulders = [humanoid.layout.spherical.index(humanoid.skeleton.link_index(f"{s}_shoulder"))
                 for s in ("right", "left")]
    others = [i for i in range(len(humanoid.layout.spherical)) if i not in shoulders]
    assert quat.angle(clip.root_quat).max() < 1e-9  # upright, facing +x
    assert quat.angle(clip.joint_quats[:, others]).max() < 1e-6 and np.abs(clip.joint_angles).max() < 1e-6
    fk = pose_fk(humanoid, clip)[0]
    link = humanoid.skeleton.link_index
    for side, right in (("right", 1.0), ("left", -1.0)):  # arms straight out sideways (+z is right)
        arm = fk.frame_pos[:, link(f"{side}_wrist")] - fk.frame_pos[:, link(f"{side}_shoulder")]
        np.testing.assert_allclose(arm / np.linalg.norm(arm, axis=-1, keepdims=True),
                                   np.broadcast_to([0, 0, right], arm.shape), atol=1e-6)


def test_import_view_plays_the_clip_in_the_viewer(imported, tmp_path, monkeypatch, capsys):
    """--view hands the clip to `awr-mimic view`, whose motion playback (MotionSession) plays it."""
    from awr_mimic_viewer.session import MotionSession

    import awr_mimic.cli

    launched = []
    monkeypatch.setattr(awr_mimic.cli, "main", lambda argv: launched.append(argv) or 0)
    clip_file = tmp_path / "viewed.txt"
    assert main(["motion", "import", str(imported / "tpose_walk.bvh"), "--out", str(clip_file), "--view"]) == 0
    assert launched == [["view", "--character", "humanoid", "--clip", str(clip_file)]]

    session = MotionSession("humanoid", str(clip_file))
    try:
        start = session.pose().base_pos.copy()
        for _ in range(30):  # one second of playback
            session.advance()
        assert session.time == pytest.approx(1.0) and session.pose().base_pos[0] - start[0] > 0.8
    finally:
        session.close()
