"""The viewer only opens what its controls offer, and only its own page may drive it.

viser checks neither a dropdown's value against its options nor a WebSocket's Origin; the viewer
does both (awr_mimic_viewer.app).
"""
from __future__ import annotations

import base64
import os
import shutil
import socket
import types

import pytest

from awr_mimic_viewer.app import ViewerApp, origin_problem, trusted_hostname
from awr_mimic_viewer.policy import make_session


def handshake(port: int, host: str, origin: str | None) -> str:
    """The status line the viewer answers a WebSocket upgrade with these Host and Origin headers."""
    import viser

    lines = ["GET / HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}", "Sec-WebSocket-Version: 13",
             f"Sec-WebSocket-Protocol: viser-v{viser.__version__}"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return s.recv(4096).split(b"\r\n")[0].decode()


@pytest.fixture
def app():
    a = ViewerApp(make_session(character="humanoid", clip="walk"), port=0, allow_hosts=("viewer.example",)).start()
    try:
        yield a
    finally:
        a.stop()


def test_a_foreign_origin_cannot_open_the_websocket(app, capsys):
    p = app.port
    assert handshake(p, f"127.0.0.1:{p}", f"http://127.0.0.1:{p}").endswith("101 Switching Protocols")  # its page
    assert handshake(p, f"localhost:{p}", f"http://localhost:{p}").endswith("101 Switching Protocols")
    capsys.readouterr()
    # another site open in the same browser, a DNS-rebound name, no Origin at all
    for host, origin in ((f"127.0.0.1:{p}", "http://evil.example"), (f"127.0.0.1:{p}", "null"),
                         (f"evil.example:{p}", f"http://evil.example:{p}"), (f"127.0.0.1:{p}", None)):
        assert handshake(p, host, origin).endswith("403 Forbidden"), (host, origin)
    refused = capsys.readouterr().err.strip().splitlines()
    assert len(refused) == 4 and all(line.startswith("awr-mimic view: refused a connection: ") for line in refused)
    # a name the user allowed (--allow-host), e.g. behind their own proxy
    assert handshake(p, f"viewer.example:{p}", f"http://viewer.example:{p}").endswith("101 Switching Protocols")


def test_origin_rules():
    assert origin_problem("http://127.0.0.1:8080", "127.0.0.1:8080") is None
    assert origin_problem("http://localhost:9000", "localhost:9000") is None  # ssh -L 9000:127.0.0.1:8080
    assert origin_problem(f"http://{socket.gethostname()}:8080", f"{socket.gethostname()}:8080") is None
    assert "another site" in origin_problem("http://evil.example", "127.0.0.1:8080")
    assert "another site" in origin_problem("http://127.0.0.1:8081", "127.0.0.1:8080")
    assert "not a name of this machine" in origin_problem("http://evil.example:8080", "evil.example:8080")
    assert "not a web page" in origin_problem("file://", "127.0.0.1:8080")
    assert trusted_hostname("[::1]") and trusted_hostname("10.1.2.3") and not trusted_hostname("attacker.test")


def _choose(app, value):
    """What viser does with a client's dropdown update: set the value unchecked, run the callbacks."""
    handle = app.clip_dropdown
    handle._impl.value = value
    event = types.SimpleNamespace(client=object(), client_id=0, target=handle)
    for cb in handle._impl.update_cb:
        cb(event)


def test_the_clip_control_opens_only_its_options(app, monkeypatch, capsys):
    opened = []
    real = app.session.set_clip

    def set_clip(clip):
        opened.append(clip)
        real(clip)

    monkeypatch.setattr(app.session, "set_clip", set_clip)
    for forged in ("/etc/passwd", "../../secret.txt", "walk.txt", "nosuchclip"):
        _choose(app, forged)
        assert app.clip_dropdown.value == "walk" and app.session.clip.name == "walk"
    assert opened == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all("not one of the Clip control's options" in line for line in err)
    _choose(app, "spinkick")  # a listed clip switches
    assert opened == ["spinkick"] and app.session.clip.name == "spinkick"


def test_a_clip_file_given_on_the_command_line_stays_reachable(tmp_path):
    from awr_mimic.characters.clips import resolve_clip

    mine = tmp_path / "mywalk.txt"
    shutil.copy(resolve_clip("humanoid", "walk").path, mine)
    a = ViewerApp(make_session(character="humanoid", clip=str(mine)), port=0).start()
    try:
        assert a.clip_dropdown.value == "mywalk" and "mywalk" in a.clip_dropdown.options
        _choose(a, "spinkick")
        assert a.session.clip.name == "spinkick"
        _choose(a, "mywalk")
        assert a.session.clip.name == "mywalk" and a.session.clip_source == str(mine)
    finally:
        a.stop()
