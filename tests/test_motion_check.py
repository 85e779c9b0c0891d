"""`awr-mimic motion check`: planted problems are found, named and located; a clean clip is clean."""
import math

import numpy as np
import pytest

from awr_mimic.anim import quat
from awr_mimic.anim.bvh_retarget import foot_heights
from awr_mimic.anim.clip import Clip
from awr_mimic.anim.formats import write_clip
from awr_mimic.anim.motion_check import check_clip, frame_ranges
from awr_mimic.characters import get_character, load_clip
from awr_mimic.cli import main


@pytest.fixture(scope="module")
def humanoid():
    return get_character("humanoid")


@pytest.fixture(scope="module")
def walk(humanoid):
    return load_clip(humanoid, "walk")


def _copy(clip: Clip, **changes) -> Clip:
    fields = dict(name=clip.name, source=clip.source, loop=clip.loop, layout=clip.layout,
                  frame_durations=clip.frame_durations.copy(), root_pos=clip.root_pos.copy(),
                  root_quat=clip.root_quat.copy(), joint_quats=clip.joint_quats.copy(),
                  joint_angles=clip.joint_angles.copy())
    fields.update(changes)
    return Clip(**fields)


def _hinge_column(humanoid, name):
    return humanoid.layout.revolute.index(humanoid.skeleton.link_index(name))


def _check(humanoid, clip):
    """Problems other than pose jumps (walk has one of its own; planted poses jump too)."""
    return check_clip(humanoid, clip, jump_speed=math.inf)


def test_walk_has_two_known_problems_a_pose_jump_and_its_loop_seam(humanoid, walk, capsys):
    """DeepMimic's walk: the left shoulder turns 0.5 rad between frames 18 and 19 (the join of two
    half cycles), and the right shoulder as much across the loop; RSI there starts at 15 rad/s."""
    jump, seam = check_clip(humanoid, walk)
    assert seam.kind == "loop seam" and seam.frames.tolist() == [38, 0]
    assert "right_shoulder 0.50 rad apart" in seam.message and "left" not in seam.message
    assert jump.kind == "pose jump" and jump.frames.tolist() == [18, 19]
    assert jump.worst == pytest.approx(15.1, abs=0.1)
    assert jump.message.startswith("left_shoulder jump(s) within frames 18-19: left_shoulder turns 0.50 rad")
    assert main(["motion", "check", "walk"]) == 1
    assert "pose jump: left_shoulder" in capsys.readouterr().out
    # spinkick, fast but smooth, has none
    assert not [p for p in check_clip(humanoid, load_clip(humanoid, "spinkick")) if p.kind == "pose jump"]


def test_a_one_frame_outlier_is_a_pose_jump(humanoid, walk):
    column = humanoid.layout.spherical.index(humanoid.skeleton.link_index("right_hip"))
    quats = walk.joint_quats.copy()
    turn = quat.from_axis_angle(np.array([1.0, 0.0, 0.0]), 0.4)
    quats[30, column] = quat.multiply(quats[30, column], turn)  # frame 30 alone: 0.4 rad off
    jumps = [p for p in check_clip(humanoid, _copy(walk, joint_quats=quats))
             if p.kind == "pose jump" and p.frames[0] != 18]
    (jump,) = jumps
    assert jump.kind == "pose jump" and jump.frames.tolist() == [29, 30, 31]
    assert "right_hip" in jump.message and jump.worst > 10.0
    # a smaller slip stays under 10 rad/s
    quats[30, column] = quat.multiply(walk.joint_quats[30, column], quat.from_axis_angle(np.array([1.0, 0, 0]), 0.1))
    assert [p.frames.tolist() for p in check_clip(humanoid, _copy(walk, joint_quats=quats))
            if p.kind == "pose jump"] == [[18, 19]]


def test_a_foot_10_cm_under_the_ground_and_a_knee_beyond_its_limit(humanoid, walk, tmp_path, capsys):
    root_pos = walk.root_pos.copy()
    root_pos[10, 1] -= 0.10 + foot_heights(humanoid, walk)[10]  # the lowest foot point at -10 cm on frame 10
    angles = walk.joint_angles.copy()
    angles[20, _hinge_column(humanoid, "right_elbow")] = -0.3  # bent backwards 0.3 rad (limits [0, pi])
    bad = _copy(walk, root_pos=root_pos, joint_angles=angles)

    problems = {p.kind: p for p in _check(humanoid, bad)}
    assert set(problems) == {"ground penetration", "joint limit"}
    ground = problems["ground penetration"]
    assert ground.frames.tolist() == [10] and ground.worst == pytest.approx(0.10, abs=1e-9)
    assert "up to 10.0 cm below the ground" in ground.message and "ankle at frame 10" in ground.message
    limit = problems["joint limit"]
    assert limit.frames.tolist() == [20] and limit.worst == pytest.approx(0.3)
    assert "right_elbow goes 17.2 deg beyond its limits [0, 180] deg, frames 20" in limit.message

    # the CLI: one line per problem, exit status 1
    path = write_clip(bad, tmp_path / "bad.txt", humanoid.layout)
    assert main(["motion", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "check: 4 problem(s)" in out  # and a pose jump (the planted elbow, next to walk's own) and walk's seam
    assert "ground penetration: the body goes up to 10.0 cm below the ground" in out
    assert "joint limit: right_elbow goes 17.2 deg beyond" in out


def test_sliding_feet_are_skating(humanoid, walk):
    drift = walk.root_pos + np.outer(walk.frame_times, [0.5, 0.0, 0.0])  # the body glides 0.5 m/s faster
    problems = _check(humanoid, _copy(walk, root_pos=drift))
    assert [p.kind for p in problems] == ["foot skating", "foot skating"]
    assert {p.message.split()[0] for p in problems} == {"right_ankle", "left_ankle"}
    assert all(p.worst == pytest.approx(0.5, abs=0.05) for p in problems)
    # a slower glide stays under the 0.3 m/s threshold
    assert _check(humanoid, _copy(walk, root_pos=walk.root_pos + np.outer(walk.frame_times, [0.1, 0, 0]))) == []


def test_frame_timing_gaps_and_floating(humanoid, walk):
    durations = walk.frame_durations.copy()
    durations[5] *= 3  # two frames missing between frames 5 and 6
    (timing,) = _check(humanoid, _copy(walk, frame_durations=durations))
    assert timing.kind == "frame timing" and timing.frames.tolist() == [5]
    assert "frame 5 lasts 0.1000 s; about 2 frame(s) missing after frame 5" in timing.message

    (floating,) = _check(humanoid, _copy(walk, root_pos=walk.root_pos + [0, 0.2, 0]))
    assert floating.kind == "floating" and "never touches the ground" in floating.message


def test_builtin_clips_with_known_problems(humanoid):
    """DeepMimic's own clips: roll drops a frame, spinkick's right knee bends backwards."""
    roll = {p.kind: p for p in check_clip(humanoid, load_clip(humanoid, "roll"))}
    assert roll["frame timing"].frames.tolist() == [5]
    spinkick = {p.kind: p for p in check_clip(humanoid, load_clip(humanoid, "spinkick"))}
    assert spinkick["joint limit"].frames.tolist() == [49, 50, 51]
    # not a cycle: its last frame is up to 1 rad from its first, which the reference jumps every loop
    assert spinkick["loop seam"].worst == pytest.approx(1.01, abs=0.01)
    assert "right_shoulder 1.01 rad, left_knee 0.84 rad" in spinkick["loop seam"].message
    assert "right_knee goes 12.7 deg" in spinkick["joint limit"].message


def test_check_a_bvh_file(tmp_path, capsys):
    """A BVH is imported with the default options first: the exported walk comes back with only its
    own pose jump."""
    assert main(["motion", "export", "walk", "--out", str(tmp_path / "walk.bvh")]) == 0
    assert main(["motion", "check", str(tmp_path / "walk.bvh")]) == 1
    out = capsys.readouterr().out
    assert "walk.bvh (imported with the default options): 39 frames" in out and "check: 1 problem(s)" in out
    assert "pose jump: left_shoulder jump(s) within frames 18-19" in out


def test_frame_ranges():
    assert frame_ranges([3, 4, 5, 9, 12, 13]) == "3-5, 9, 12-13"
    assert frame_ranges(list(range(0, 40, 2))) == "0, 2, 4, 6, 8, 10, 12, 14 and 12 more"


def test_problem_is_printable(humanoid, walk):
    angles = walk.joint_angles.copy()
    angles[3, _hinge_column(humanoid, "left_elbow")] = 3.3  # limits [0, 3.14]
    (problem,) = _check(humanoid, _copy(walk, joint_angles=angles))
    assert str(problem).startswith("joint limit: left_elbow goes 9.2 deg beyond")
