"""`awr-mimic view/render/export` from the command line, including a real checkpoint."""
from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pytest

from awr_mimic.cli import main
from awr_mimic_viewer import testing


def test_view_module_imports_light():
    code = ("import sys, awr_mimic.cli.view, awr_mimic.cli.render, awr_mimic.cli.export; "
            "heavy = [m for m in ('viser', 'torch', 'pybullet', 'imageio', 'awr_mimic_viewer.app') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("argv, message", [
    (["view", "--character", "humanid"], "did you mean 'humanoid'"),
    (["view", "--clip", "spinkik"], "did you mean 'spinkick'"),
    (["render", "--clip", "walk", "--out", "x.avi"], ".mp4, .gif or .webp"),
    (["export", "--clip", "walk", "--out", "x.txt"], "html"),
    (["view", "--checkpoint", "/no/such.pt"], "checkpoint not found"),
    (["view", "--speed", "9"], "--speed"),
])
def test_user_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_view_serves_on_loopback_and_prints_the_url():
    port = testing.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "awr_mimic", "view", "--clip", "walk", "--port", str(port),
                             "--paused"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "serving" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "viewer exited"
        assert f"http://127.0.0.1:{port}" in line
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert "<html" in page.lower()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A real (untrained) learner checkpoint for the humanoid walk."""
    from awr_mimic.learning.envspec import EnvSpec
    from awr_mimic.learning.trainer import Trainer

    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    trainer = Trainer("awr", env=EnvSpec("awr_mimic/Mimic-v0", {"character": "humanoid", "clip": "walk"}),
                      workers=1, seed=0)
    try:
        trainer.save(path)
    finally:
        trainer.close()
    return path


def test_checkpoint_runs_live_in_physics(checkpoint):
    from awr_mimic_viewer.policy import make_session

    session = make_session(checkpoint=str(checkpoint))
    try:
        assert session.kind == "physics" and session.clip.name == "walk"
        for _ in range(5):
            session.advance()
        r = session.readouts()
        assert 0 <= r["normalised_return"] <= 1 and set(session.history) >= {"pose", "joint_angle_error"}
        assert session.ghost_pose() is not None
        session.set_clip("run")  # the dropdown: same policy, another reference
        assert session.clip.name == "run"
        session.advance()
    finally:
        session.close()


def test_render_and_export_a_checkpoint(checkpoint, tmp_path, capsys):
    import imageio.v3 as iio

    gif = tmp_path / "policy.gif"
    assert main(["render", "--checkpoint", str(checkpoint), "--out", str(gif), "--seconds", "0.3",
                 "--width", "96", "--height", "64", "--fps", "10"]) == 0
    assert iio.imread(gif).shape == (3, 64, 96, 3)
    html = tmp_path / "policy.html"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(html), "--seconds", "0.3"]) == 0
    assert html.stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "wrote" in out


def test_checkpoint_and_character_conflict(checkpoint, capsys):
    assert main(["view", "--checkpoint", str(checkpoint), "--character", "humanoid"]) == 2
    assert "not both" in capsys.readouterr().err


def _long_decimals(text: str) -> list[str]:
    import re

    return re.findall(r"\d+\.\d{4,}", text)


def test_gui_numbers_are_rounded_for_display():
    """The Time slider ends at 1.27, not 1.266616; the session keeps exact times (no browser needed)."""
    from awr_mimic_viewer.app import ViewerApp, timeline_end
    from awr_mimic_viewer.policy import make_session

    assert timeline_end(1.266616) == 1.27 and timeline_end(1.25) == 1.25 and timeline_end(0.0) == 0.01
    session = make_session(character="humanoid", clip="walk")
    duration = session.duration
    assert _long_decimals(repr(duration)), "walk's duration should need rounding for this test"
    app = ViewerApp(session, port=testing.free_port(), speed=1.23456, ghost_offset=0.123456,
                    push_strength=31.234, playing=False).start()
    try:
        t = app.timeline
        assert t.max == timeline_end(duration) and t.max >= duration and t.max - duration < 0.01
        assert t.step == 0.01 and t.precision <= 2, (t.max, t.step, t.precision)
        for slider in (app.speed, app.ghost_offset, app.push_strength):
            assert slider.precision <= 2 and not _long_decimals(repr(slider.value)), (slider.label, slider.value)
        assert app.speed.value == 1.23
        with app.lock:
            app.session.advance(0.123456789)
            app._redraw(text=True)
        assert session.time == 0.123456789  # exact underneath
        assert t.value == 0.12
        assert not _long_decimals(app.readout.content), app.readout.content
        app.clip_dropdown.value = "spinkick"  # the dropdown: the slider's end follows, still rounded
        deadline = time.monotonic() + 10
        while session.clip.name != "spinkick" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.clip.name == "spinkick"
        assert t.max == timeline_end(session.duration) and not _long_decimals(repr(t.max))
    finally:
        app.stop()
