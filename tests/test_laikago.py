"""Laikago: pybullet_data's URDF and laikago_walk (x,y,z,w quaternions, angle mapping), motion_imitation clips."""
import json

import numpy as np
import pybullet_data
import pytest

import awr_mimic
from awr_mimic.anim import quat
from awr_mimic.anim.formats import detect_format, read_clip, write_clip
from awr_mimic.anim.shapes import clip_ground_clearance
from awr_mimic.characters import get_character, list_clips, load_clip
from awr_mimic.errors import ClipError

WALK = pybullet_data.getDataPath() + "/data/motions/laikago_walk.txt"


def test_laikago_model_and_builtin_walk():
    laikago = get_character("laikago")
    assert laikago.layout.action_size == 12 and laikago.up_axis == 2
    assert laikago.skeleton.total_mass == pytest.approx(25.567, abs=1e-3)
    entries = {e.name: e for e in list_clips("laikago")}
    assert entries["walk"].source == "builtin"
    clip = load_clip(laikago, "walk")
    assert clip.num_frames == 21 and clip.fps == pytest.approx(16.0) and clip.loop == "wrap"


def test_laikago_walk_angles_and_root_conventions():
    laikago = get_character("laikago")
    clip = load_clip(laikago, "walk")
    raw = np.array(json.load(open(WALK))["Frames"])
    direction = np.array([-1, 1, 1, 1, 1, 1, -1, 1, 1, 1, 1, 1.0])
    offset = np.array([0, -0.7, 0.7] * 4)
    np.testing.assert_allclose(clip.joint_angles, raw[:, 8:20] * direction + offset)
    # quaternions are x, y, z, w in the file
    np.testing.assert_allclose(np.abs(np.sum(clip.root_quat * raw[:, 4:8], axis=1)), 1.0, atol=1e-6)
    # the file's root is pybullet's base position (the centre of mass): 3 cm above the link frame here
    com = clip.root_pos + quat.rotate(clip.root_quat, laikago.skeleton.base_inertial_pos)
    np.testing.assert_allclose(com, raw[:, 1:4], atol=1e-9)
    # it walks forward (+y in the world) on its feet
    assert clip.root_pos[-1, 1] - clip.root_pos[0, 1] > 0.3
    _, low = clip_ground_clearance(laikago, clip, times=clip.frame_times)
    assert np.abs(low).max() < 0.03


def test_laikago_walk_reference_tracking():
    env = awr_mimic.make_env(character="laikago", clip="walk")
    try:
        means = []
        for seed in range(5):
            env.reset(seed=seed)
            rewards = []
            for _ in range(10):
                _, r, terminated, _, _ = env.step(env.reference_action())
                rewards.append(r)
                if terminated:
                    break
            means.append(np.mean(rewards))
        assert np.mean(means) >= 0.5
    finally:
        env.close()


def test_motion_imitation_format_round_trip(tmp_path):
    laikago = get_character("laikago")
    clip = load_clip(laikago, "walk")
    path = write_clip(clip, tmp_path / "walk_mi.txt", laikago.layout, fmt="motion_imitation", digits=9)
    data = json.loads(path.read_text())
    assert detect_format(data) == "motion_imitation"
    assert data["LoopMode"] == "Wrap" and data["FrameDuration"] == pytest.approx(0.0625)
    assert len(data["Frames"][0]) == 19  # position, x,y,z,w quaternion, 12 URDF angles
    # URDF angles, base position (centre of mass), z up
    np.testing.assert_allclose(data["Frames"][0][7:], clip.joint_angles[0], atol=1e-8)
    again = load_clip(laikago, str(path))
    np.testing.assert_allclose(again.root_pos, clip.root_pos, atol=1e-8)
    np.testing.assert_allclose(again.joint_angles, clip.joint_angles, atol=1e-8)
    assert quat.angle_between(again.root_quat, clip.root_quat).max() < 1e-6
    np.testing.assert_allclose(again.cycle_offset, clip.cycle_offset, atol=1e-8)


def test_motion_imitation_options_and_errors(tmp_path):
    laikago = get_character("laikago")
    frame = [0, 0, 0.48, 0.5, 0.5, 0.5, 0.5] + [0.0, 0.6, -1.2] * 4
    moved = list(frame)
    moved[0] = 0.1
    path = tmp_path / "stand.txt"
    path.write_text(json.dumps({"LoopMode": "Clamp", "FrameDuration": 0.05, "EnableCycleOffsetPosition": False,
                                "Frames": [frame, moved]}))
    clip = read_clip(path, laikago.layout)
    assert clip.loop == "none" and clip.duration == pytest.approx(0.05)
    assert not np.any(clip.cycle_offset)
    path.write_text(json.dumps({"LoopMode": "Bounce", "FrameDuration": 0.05, "Frames": [frame, frame]}))
    with pytest.raises(ClipError, match="LoopMode"):
        read_clip(path, laikago.layout)
    path.write_text(json.dumps({"LoopMode": "Wrap", "FrameDuration": 0.05, "Frames": [frame[:-1], frame[:-1]]}))
    with pytest.raises(ClipError, match="frame 0 has"):
        read_clip(path, laikago.layout)
