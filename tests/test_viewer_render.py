"""`awr-mimic render`: headless video with the reference ghost."""
from __future__ import annotations

import numpy as np
import pytest

from awr_mimic.errors import AwrMimicError


def test_spinkick_2s_640x480_mp4_has_60_frames(tmp_path, capsys):
    # speed is reported here and measured by benchmarks, never asserted (a busy machine is not a bug)
    import imageio.v3 as iio

    from awr_mimic_viewer.policy import make_session
    from awr_mimic_viewer.render import render_video

    session = make_session(character="humanoid", clip="spinkick", track=True)  # physics + ghost
    out = tmp_path / "spinkick.mp4"
    try:
        stats = render_video(session, out, seconds=2.0, width=640, height=480, fps=30)
    finally:
        session.close()
    with capsys.disabled():
        print(f"\nrender: 60 frames 640x480 in {stats.seconds:.2f} s = {stats.fps:.1f} fps ({stats.renderer})")
    assert stats.frames == 60
    frames = iio.imread(out)
    assert frames.shape == (60, 480, 640, 3)
    assert frames.std() > 10  # not a blank video
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1  # it moves
    assert stats.seconds > 0 and stats.fps > 0


def test_gif_of_a_clip_without_physics(tmp_path):
    import imageio.v3 as iio

    from awr_mimic_viewer.policy import make_session
    from awr_mimic_viewer.render import render_video

    session = make_session(character="humanoid", clip="walk")
    out = tmp_path / "walk.gif"
    stats = render_video(session, out, seconds=0.5, width=160, height=120, fps=10)
    frames = iio.imread(out)
    assert stats.frames == 5 and frames.shape[0] == 5 and frames.shape[1:3] == (120, 160)


def test_tiny_renderer_fallback(tmp_path):
    import imageio.v3 as iio

    from awr_mimic_viewer.policy import make_session
    from awr_mimic_viewer.render import render_video

    session = make_session(character="humanoid", clip="walk")
    stats = render_video(session, tmp_path / "tiny.mp4", seconds=0.2, width=160, height=128, fps=10, egl=False)
    assert stats.renderer == "tiny"
    assert iio.imread(tmp_path / "tiny.mp4").shape[0] == 2


def test_bad_extension_is_one_line_error(tmp_path):
    from awr_mimic_viewer.render import check_output

    with pytest.raises(AwrMimicError, match=r"\.mp4, \.gif or \.webp"):
        check_output(tmp_path / "video.avi")


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_gif_and_webp_have_the_frames_asked_for(tmp_path, suffix):
    from PIL import Image

    from awr_mimic_viewer.policy import make_session
    from awr_mimic_viewer.render import render_video

    session = make_session(character="humanoid", clip="walk", track=True)  # physics + ghost
    out = tmp_path / f"walk{suffix}"
    try:
        stats = render_video(session, out, seconds=0.6, width=96, height=72, fps=10)
    finally:
        session.close()
    with Image.open(out) as im:
        assert stats.frames == 6 and im.n_frames == 6 and im.size == (96, 72)
        im.seek(5)
        im.load()
        assert im.info.get("loop") == 0 and im.info.get("duration") == 100
        assert np.asarray(im.convert("RGB")).std() > 10  # not blank


def test_readme_defaults_for_gif_and_webp():
    from awr_mimic_viewer.render import video_defaults

    assert video_defaults("a.mp4") == (5.0, 640, 480, 30.0)
    assert video_defaults("a.webp") == video_defaults("a.GIF") == (4.0, 400, 300, 15.0)
    assert video_defaults("a.webp", seconds=2, fps=10) == (2, 400, 300, 10)


def test_cli_webp_quality(tmp_path, capsys):
    from PIL import Image

    from awr_mimic.cli import main

    assert main(["render", "--character", "humanoid", "--clip", "walk", "--out", str(tmp_path / "w.gif"),
                 "--quality", "50"]) == 2
    assert "--quality applies to .webp" in capsys.readouterr().err
    out = tmp_path / "w.webp"
    assert main(["render", "--character", "humanoid", "--clip", "walk", "--out", str(out), "--seconds", "0.4",
                 "--width", "64", "--height", "48", "--quality", "30"]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"wrote {out} (") and "6 frames 64x48" in line  # 0.4 s at the default 15 fps
    with Image.open(out) as im:
        assert im.n_frames == 6
