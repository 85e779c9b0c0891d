"""Clip parsing, validation, interpolation and looping."""
import json
import subprocess
import sys

import numpy as np
import pytest

from awr_mimic.anim import quat
from awr_mimic.characters import get_character, list_clips, load_clip
from awr_mimic.errors import ClipError

HUMANOID_CLIPS = {
    "backflip": (29, 1.75, "wrap"), "cartwheel": (164, 2.717, "wrap"), "crawl": (177, 2.933, "wrap"),
    "dance_a": (98, 1.617, "wrap"), "dance_b": (153, 2.533, "wrap"), "getup_facedown": (183, 3.033, "none"),
    "getup_faceup": (227, 3.767, "none"), "jump": (107, 1.767, "wrap"), "kick": (47, 1.533, "none"),
    "punch": (65, 2.133, "none"), "roll": (121, 2.016, "wrap"), "run": (25, 0.8, "wrap"),
    "spin": (107, 4.417, "wrap"), "spinkick": (78, 1.283, "wrap"), "walk": (39, 1.267, "wrap"),
}


@pytest.fixture(scope="module")
def humanoid():
    return get_character("humanoid")


def test_all_fifteen_humanoid_clips_load(humanoid):
    entries = {e.name: e for e in list_clips(humanoid)}
    assert set(HUMANOID_CLIPS) <= set(entries)
    for name, (frames, seconds, loop) in HUMANOID_CLIPS.items():
        clip = load_clip(humanoid, name)
        assert entries[name].source == "builtin"
        assert clip.num_frames == frames
        assert clip.duration == pytest.approx(seconds, abs=2e-3)
        assert clip.loop == loop
        s = clip.sample(np.linspace(-1.0, 2 * clip.duration, 50))
        assert np.all(np.isfinite(s.root_pos)) and np.all(np.isfinite(s.joint_quats))


def write_clip(tmp_path, frames, loop="wrap", name="clip.txt"):
    path = tmp_path / name
    path.write_text(json.dumps({"Loop": loop, "Frames": frames}))
    return path


def walk_frames():
    with open(load_clip("humanoid", "walk").source) as f:
        return json.load(f)["Frames"]


def damaged_clips(tmp_path):
    frames = walk_frames()
    cases = {}
    p = tmp_path / "malformed.txt"
    p.write_text('{"Loop": "wrap", "Frames": [[0.1, 1, 2]')
    cases["malformed JSON"] = p
    bad = [row[:] for row in frames]
    bad[3] = bad[3][:-2]
    cases["expects 44"] = write_clip(tmp_path, bad, name="columns.txt")
    p = tmp_path / "nan.txt"
    text = json.dumps({"Loop": "wrap", "Frames": frames}).replace(str(frames[2][5]), "NaN", 1)
    p.write_text(text)
    cases["not finite"] = p
    bad = [row[:] for row in frames]
    bad[4][0] = 0.0
    cases["non-positive duration"] = write_clip(tmp_path, bad, name="duration.txt")
    bad = [row[:] for row in frames]
    bad[5][8:12] = [0.0, 0.0, 0.0, 0.0]  # the chest quaternion
    cases["zero norm"] = write_clip(tmp_path, bad, name="quat.txt")
    return cases


def test_damaged_clips_give_one_clear_error(tmp_path, humanoid):
    for expected, path in damaged_clips(tmp_path).items():
        with pytest.raises(ClipError) as info:
            load_clip(humanoid, str(path))
        message = str(info.value)
        assert str(path) in message and expected in message and "\n" not in message


def test_damaged_clips_cli_prints_one_line_without_traceback(tmp_path):
    for expected, path in damaged_clips(tmp_path).items():
        out = subprocess.run(
            [sys.executable, "-m", "awr_mimic", "clips", "--character", "humanoid", "--check", str(path)],
            capture_output=True, text=True,
        )
        assert out.returncode == 2
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1, out.stderr
        assert expected in lines[0] and str(path) in lines[0] and "Traceback" not in out.stderr


def test_unknown_clip_and_character_suggest_close_matches(humanoid):
    with pytest.raises(Exception, match="did you mean 'spinkick'"):
        load_clip(humanoid, "spinkik")
    with pytest.raises(Exception, match="did you mean 'humanoid'"):
        get_character("humanoud")


def test_quaternions_are_normalised_and_sign_continuous(tmp_path, humanoid):
    frames = walk_frames()
    for i, row in enumerate(frames):
        row[4:8] = [2.0 * x for x in row[4:8]]  # unnormalised root quaternion
        if i % 2:
            row[8:12] = [-x for x in row[8:12]]  # chest sign flips every other frame
    clip = load_clip(humanoid, str(write_clip(tmp_path, frames)))
    assert np.allclose(np.linalg.norm(clip.root_quat, axis=1), 1.0)
    dots = np.sum(clip.joint_quats[1:, 0] * clip.joint_quats[:-1, 0], axis=1)
    assert np.all(dots > 0)


def test_interpolation_and_velocities(humanoid):
    clip = load_clip(humanoid, "walk")
    k = 5
    t0, t1 = clip.frame_times[k], clip.frame_times[k + 1]
    mid = clip.sample(0.5 * (t0 + t1))
    assert np.allclose(mid.root_pos, 0.5 * (clip.root_pos[k] + clip.root_pos[k + 1]))
    assert np.allclose(mid.joint_angles, 0.5 * (clip.joint_angles[k] + clip.joint_angles[k + 1]))
    # slerp midpoint: equal angle to both ends
    a0 = quat.angle_between(mid.joint_quats, clip.joint_quats[k])
    a1 = quat.angle_between(mid.joint_quats, clip.joint_quats[k + 1])
    assert np.allclose(a0, a1, atol=1e-9)
    # velocities match finite differences of the sampled motion
    t, h = t0 + 0.3 * (t1 - t0), 1e-6
    s0, s1, s = clip.sample(t - h), clip.sample(t + h), clip.sample(t)
    assert np.allclose((s1.root_pos - s0.root_pos) / (2 * h), s.root_vel, atol=1e-5)
    assert np.allclose((s1.joint_angles - s0.joint_angles) / (2 * h), s.joint_angle_vels, atol=1e-5)
    local = quat.angular_velocity(s0.joint_quats, s1.joint_quats, 2 * h, local=True)
    assert np.allclose(local, s.joint_ang_vels, atol=1e-4)
    world = quat.angular_velocity(s0.root_quat, s1.root_quat, 2 * h, local=False)
    assert np.allclose(world, s.root_ang_vel, atol=1e-4)


def test_wrap_loops_with_root_offset_and_none_clamps(humanoid):
    walk = load_clip(humanoid, "walk")
    offset = walk.root_pos[-1] - walk.root_pos[0]
    offset[1] = 0.0
    t = 0.4
    a, b = walk.sample(t), walk.sample(t + 2 * walk.duration)
    assert np.allclose(b.root_pos - a.root_pos, 2 * offset)
    assert np.allclose(a.joint_quats, b.joint_quats)
    assert b.cycle == 2 and a.phase == pytest.approx(b.phase)
    kick = load_clip(humanoid, "kick")
    end = kick.sample(kick.duration + 5.0)
    assert np.allclose(end.root_pos, kick.root_pos[-1])
    assert np.allclose(end.root_vel, 0.0) and end.phase == pytest.approx(1.0)


def test_clips_cli_lists_every_clip():
    out = subprocess.run([sys.executable, "-m", "awr_mimic", "clips", "--character", "humanoid"],
                         capture_output=True, text=True, check=True)
    for name, (frames, seconds, loop) in HUMANOID_CLIPS.items():
        line = next(l for l in out.stdout.splitlines() if l.startswith(name + " "))
        assert str(frames) in line and loop in line and "builtin" in line
