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

    with pytest.raises(AwrMimicError, match=r"\.mp4 or \.gif"):
        check_output(tmp_path / "video.avi")
