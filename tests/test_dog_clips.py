"""The dog: DeepMimic's dog clips play on the ground and can be tracked; the built-in walk."""
from pathlib import Path

import numpy as np
import pytest

import awr_mimic
from awr_mimic.anim.shapes import clip_ground_clearance
from awr_mimic.characters import get_character, list_clips, load_clip

MOTIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "deepmimic" / "motions"
needs_shared = pytest.mark.skipif(
    not MOTIONS.is_dir(), reason=f"DeepMimic's dog clips are not here ({MOTIONS}); CI has ../shared"
)
DOG_CLIPS = {"canter": 28, "pace": 39, "spin": 45, "trot": 32}


def reference_tracking(character, clip, seeds=5, steps=10):
    """Mean reward over the first `steps` control steps of PD tracking of the reference, from RSI."""
    env = awr_mimic.make_env(character=character, clip=clip)
    try:
        means = []
        for seed in range(seeds):
            env.reset(seed=seed)
            rewards = []
            for _ in range(steps):
                _, r, terminated, _, _ = env.step(env.reference_action())
                rewards.append(r)
                if terminated:
                    break
            means.append(np.mean(rewards))
        return float(np.mean(means))
    finally:
        env.close()


@needs_shared
@pytest.mark.parametrize("name", sorted(DOG_CLIPS))
def test_dog_clip_plays_on_the_ground(name):
    dog = get_character("dog")
    clip = load_clip(dog, str(MOTIONS / f"dog3d_{name}.txt"))
    assert clip.num_frames == DOG_CLIPS[name] and clip.loop == "wrap"
    assert clip.fps == pytest.approx(60.0, rel=1e-3)
    # key frames and the 30 Hz control rate: the lowest body point stays within 4 cm of the ground
    for times in (clip.frame_times, np.arange(0.0, clip.duration, 1 / 30)):
        _, low = clip_ground_clearance(dog, clip, times=times)
        assert np.abs(low).max() <= 0.04
    # between key frames (240 Hz): canter's flight phase reaches 4.2 cm
    _, low = clip_ground_clearance(dog, clip, rate=240)
    assert np.abs(low).max() <= 0.045


@needs_shared
@pytest.mark.parametrize("name", ["trot", "canter"])
def test_dog_reference_tracking(name):
    assert reference_tracking("dog", str(MOTIONS / f"dog3d_{name}.txt")) >= 0.5


def test_builtin_dog_walk_is_listed_tracked_and_grounded():
    entries = {e.name: e for e in list_clips("dog")}
    assert entries["walk"].source == "shipped"
    dog = get_character("dog")
    assert dog.default_clip == "walk"
    clip = load_clip(dog, "walk")
    _, low = clip_ground_clearance(dog, clip, rate=240)
    assert np.abs(low).max() <= 0.04
    assert reference_tracking("dog", "walk") >= 0.5


@needs_shared
def test_dog_clip_in_a_user_motions_folder_is_listed(tmp_path, monkeypatch):
    folder = tmp_path / "dog"
    folder.mkdir()
    (folder / "trot.txt").write_text((MOTIONS / "dog3d_trot.txt").read_text())
    monkeypatch.setenv("AWR_MIMIC_MOTIONS", str(tmp_path))
    entries = {e.name: e for e in list_clips("dog")}
    assert entries["trot"].source == "user" and entries["walk"].source == "shipped"
    assert load_clip("dog", "trot").num_frames == 32


def test_wrong_clip_for_the_dog_is_a_one_line_error():
    from awr_mimic.errors import ClipError

    humanoid_walk = Path(load_clip("humanoid", "walk").source)
    with pytest.raises(ClipError, match="the dog expects 84"):
        load_clip("dog", str(humanoid_walk))
