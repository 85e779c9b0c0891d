"""Retargeting: keypoints from one character's FK, IK on another."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from awr_mimic.anim import quat
from awr_mimic.anim.retarget import load_map, retarget
from awr_mimic.anim.clip import Clip
from awr_mimic.characters import get_character, load_clip
from awr_mimic.errors import AwrMimicError

REPO = Path(__file__).resolve().parents[1]
MAP = REPO / "motions/dog/laikago_to_dog.toml"


def _first_frames(clip: Clip, n: int) -> Clip:
    return Clip(name=clip.name, source=clip.source, loop="none", layout=clip.layout,
                frame_durations=clip.frame_durations[:n].copy(), root_pos=clip.root_pos[:n], root_quat=clip.root_quat[:n],
                joint_quats=clip.joint_quats[:n], joint_angles=clip.joint_angles[:n])


def test_retarget_laikago_walk_frames_onto_the_dog():
    laikago, dog = get_character("laikago"), get_character("dog")
    src = _first_frames(load_clip(laikago, "walk"), 3)
    errors = []
    out = retarget(laikago, src, dog, load_map(MAP), progress=lambda i, n, e: errors.append(e))
    assert out.num_frames == 3 and out.layout == dog.layout
    assert max(errors) < 0.01  # keypoint rms error under 1 cm
    # the dog faces +x (its forward) and stands upright (its y up)
    fwd = quat.rotate(out.root_quat, np.array([1.0, 0, 0]))
    up = quat.rotate(out.root_quat, np.array([0, 1.0, 0]))
    assert fwd[:, 0].min() > 0.95 and up[:, 1].min() > 0.95


def test_builtin_walk_matches_the_laikago_motion():
    walk = load_clip("dog", "walk")
    source = load_clip("laikago", "walk")
    assert walk.num_frames == source.num_frames
    np.testing.assert_allclose(walk.frame_durations, source.frame_durations)
    # it travels forward like the Laikago, scaled by the map's 1.2
    travel = walk.root_pos[-1, 0] - walk.root_pos[0, 0]
    assert travel == pytest.approx(1.2 * np.linalg.norm(source.root_pos[-1, :2] - source.root_pos[0, :2]), rel=0.1)


def test_map_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('source = "laikago"\n')
    with pytest.raises(AwrMimicError, match="no \\[\\[pairs\\]\\]"):
        load_map(bad)
    bad.write_text('[[pairs]]\nsource = "toeFR"\n')
    with pytest.raises(AwrMimicError, match="missing 'target'"):
        load_map(bad)
    bad.write_text('[[pairs]]\nsource = "toeFR"\ntarget = "nope"\n')
    with pytest.raises(AwrMimicError, match="no link 'nope'"):
        retarget(get_character("laikago"), load_clip("laikago", "walk"), get_character("dog"), load_map(bad))


def test_cli_retarget_help():
    out = subprocess.run([sys.executable, "-m", "awr_mimic", "retarget", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "--target-character" in out.stdout
