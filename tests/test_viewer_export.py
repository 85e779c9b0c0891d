"""`awr-mimic export`: a standalone HTML replay that plays in chromium with no server."""
from __future__ import annotations

import base64
import re

import pytest

from awr_mimic_viewer import testing


def scene_messages(html: str) -> list:
    """Decode viser's embedded recording: base64(zstd(len + msgpack + buffers))."""
    import msgspec
    import zstandard

    data = re.search(r'window.__VISER_EMBED_DATA__="([^"]+)"', html).group(1)
    raw = base64.b64decode(data)
    inner = zstandard.ZstdDecompressor().decompress(raw[8:], max_output_size=int.from_bytes(raw[:8], "little"))
    n = int.from_bytes(inner[:8], "little")
    return msgspec.msgpack.decode(inner[8:8 + n])


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    from awr_mimic_viewer.export import export_html
    from awr_mimic_viewer.policy import make_session

    out = tmp_path_factory.mktemp("export") / "replay.html"
    session = make_session(character="humanoid", clip="spinkick", track=True)
    try:
        info = export_html(session, out, seconds=1.0, fps=30)
    finally:
        session.close()
    return out, info


def test_export_writes_the_scene(replay):
    out, info = replay
    assert out.is_file() and info["frames"] == 30 and info["links"] == 15 and info["ghost"]
    recording = scene_messages(out.read_text())
    assert recording["durationSeconds"] == pytest.approx(1.0, abs=1e-6)
    text = repr(recording["messages"])
    for node in ("/character/chest", "/ghost/chest", "/ground"):
        assert node in text, node
    # one pose update per frame per mesh: the replay moves
    times = sorted({t for t, _ in recording["messages"]})
    assert len(times) >= 30


def test_export_plays_in_chromium_without_a_server(replay):
    testing.require_browser(pytest)
    from playwright.sync_api import sync_playwright

    out, _ = replay
    with sync_playwright() as pw:
        browser = testing.launch(pw)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 600})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(out.resolve().as_uri())
            canvas = page.locator("canvas").first
            canvas.wait_for(timeout=60_000)
            img = None
            for _ in range(60):
                page.wait_for_timeout(500)
                img = testing.screenshot_array(canvas)
                if testing.warm_pixels(img) > 300:
                    break
            assert not testing.is_blank(img)
            assert testing.warm_pixels(img) > 300, "the character is not drawn in the replay"
            assert not errors, errors
        finally:
            browser.close()


def test_export_needs_html_name(tmp_path):
    from awr_mimic.errors import AwrMimicError
    from awr_mimic_viewer.export import export_html
    from awr_mimic_viewer.policy import make_session

    with pytest.raises(AwrMimicError, match="html"):
        export_html(make_session(character="humanoid", clip="walk"), tmp_path / "replay.txt")
