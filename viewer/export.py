"""Standalone HTML replay of a session: `awr-mimic export`.

The same scene as the live viewer (ground, character, reference ghost) is
recorded with viser's scene serializer, one pose update per frame with a sleep
in between, and written as viser's self-contained HTML page: it plays (with a
play/scrub bar) in any browser, from a file, without a server.
"""
from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path

from awr_mimic.errors import AwrMimicError
from awr_mimic_viewer.render import session_meshes
from awr_mimic_viewer.scene import GHOST_COLOR, GHOST_OPACITY, CharacterRig, setup_world
from awr_mimic_viewer.session import camera_offset, character_size, frame_steps, side_axis


def export_html(session, out: str | os.PathLike, seconds: float = 5.0, fps: float = 30.0, ghost: bool = True,
                ghost_offset: float = 0.0, dark_mode: bool = False) -> dict:
    """Record `seconds` of the session at `fps` into a standalone HTML file; returns a small summary."""
    import viser

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise AwrMimicError(f"{out}: the replay is an HTML page: use a .html file name")
    if not out.parent.exists():
        raise AwrMimicError(f"{out.parent}: no such directory")
    if seconds <= 0 or fps <= 0:
        raise AwrMimicError("--seconds and --fps must be positive")
    start = time.perf_counter()
    # the serializer lives on a server; bind it to loopback on any free port and stop it right after
    with contextlib.redirect_stdout(io.StringIO()):
        server = viser.ViserServer(host="127.0.0.1", port=0, verbose=False)
    try:
        up = session.character.up_axis
        scene = server.scene
        setup_world(scene, up)
        meshes = session_meshes(session)
        show_ghost = ghost and session.kind == "physics"
        rig = CharacterRig(scene, "/character", meshes)
        ghost_rig = CharacterRig(scene, "/ghost", meshes, color=GHOST_COLOR, opacity=GHOST_OPACITY) if show_ghost else None
        pose = session.pose()
        side = side_axis(up)
        target = pose.base_pos
        server.initial_camera.position = tuple(target + camera_offset(up, character_size(pose)))
        server.initial_camera.look_at = tuple(target)
        offset = side * ghost_offset

        n = max(1, int(round(seconds * fps)))
        frame_dt = 1.0 / fps
        serializer = server.get_scene_serializer()
        for i in frame_steps(session, n, fps):
            if i:
                serializer.insert_sleep(frame_dt)
            rig.update(session.pose())
            if ghost_rig is not None:
                g = session.ghost_pose()
                ghost_rig.update(g.offset(offset) if ghost_offset else g)
        serializer.insert_sleep(frame_dt)
        html = serializer.as_html(dark_mode=dark_mode)
    finally:
        with contextlib.redirect_stdout(io.StringIO()):
            server.stop()
    out.write_text(html, encoding="utf-8")
    return {"frames": n, "bytes": out.stat().st_size, "seconds": time.perf_counter() - start,
            "links": len(meshes), "ghost": show_ghost}
