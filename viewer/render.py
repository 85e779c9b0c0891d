"""Headless video of a session, with the reference ghost: `awr-mimic render`.

Formats by extension: ``.mp4`` (H.264), ``.gif``, ``.webp`` (animated, lossy, Pillow). GIF and
WebP are for pages such as a README: :func:`video_defaults` makes them short, small and slow
(4 s, 400x300, 15 fps: a few hundred KB of WebP); MP4 keeps 5 s, 640x480, 30 fps.

Frames are drawn by pybullet in a client of their own (the env's physics client
is untouched): every link mesh becomes a visual-only body, posed each frame from
the session's :class:`~awr_mimic_viewer.meshes.Pose`, so the video shows exactly
what the browser viewer shows, for any character. The EGL plugin is loaded right
after connecting (before any body); if it cannot load, pybullet's tiny renderer
is used (slower, no transparency).
"""
from __future__ import annotations

import contextlib
import math
import os
import pkgutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from awr_mimic.characters.character import p, quiet_stdout
from awr_mimic.errors import AwrMimicError
from awr_mimic_viewer.meshes import LinkMesh, Pose, build_link_meshes, character_link_meshes
from awr_mimic_viewer.session import camera_offset, character_size, frame_steps, side_axis, up_vector

VIDEO_SUFFIXES = (".mp4", ".gif", ".webp")
# per format: seconds, width, height, fps (explicit arguments win)
DEFAULTS = {".mp4": (5.0, 640, 480, 30.0), ".gif": (4.0, 400, 300, 15.0), ".webp": (4.0, 400, 300, 15.0)}
WEBP_QUALITY = 60  # lossy quality 0-100 (Pillow's default is 80)
CHARACTER_RGBA = (0.84, 0.55, 0.33, 1.0)
GHOST_RGBA = (0.35, 0.63, 1.0, 0.35)


@dataclass
class RenderStats:
    frames: int
    seconds: float  # wall clock, whole render (session stepping + drawing + encoding)
    renderer: str  # "egl" | "tiny"

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


class FrameRenderer:
    """A pybullet client that draws posed link meshes (character + optional ghost) to RGB arrays."""

    def __init__(self, meshes: dict[int, LinkMesh], up_axis: int, width: int, height: int, ghost: bool = True,
                 egl: bool = True):
        self.width, self.height = int(width), int(height)
        self.up_axis = up_axis
        with quiet_stdout():
            self.client = p.connect(p.DIRECT)
        self.renderer = "tiny"
        if egl:
            self.renderer = "egl" if self._load_egl() else "tiny"
        self._tmp = tempfile.TemporaryDirectory(prefix="awr-mimic-render-")
        cid = self.client
        import pybullet_data

        plane_quat = p.getQuaternionFromEuler([-math.pi / 2, 0, 0]) if up_axis == 1 else [0, 0, 0, 1]
        with quiet_stdout():
            p.loadURDF(os.path.join(pybullet_data.getDataPath(), "plane.urdf"), [0, 0, 0], plane_quat,
                       useFixedBase=True, physicsClientId=cid)
        files = {}
        for link, lm in meshes.items():
            path = Path(self._tmp.name) / f"link{link + 1}.obj"
            lm.mesh.export(str(path), include_normals=True)
            files[link] = str(path)
        self.bodies = self._bodies(files, CHARACTER_RGBA)
        self.ghost_bodies = self._bodies(files, GHOST_RGBA) if ghost else {}
        self._target = None
        self._offset = None
        self._quiet_frames = 3
        self._proj = p.computeProjectionMatrixFOV(45, self.width / self.height, 0.05, 100.0, physicsClientId=cid)

    def _load_egl(self) -> bool:
        loader = pkgutil.get_loader("eglRenderer")
        if loader is None:
            return False
        try:
            with quiet_stdout():  # the plugin prints its GL vendor strings
                plugin = p.loadPlugin(loader.get_filename(), "_eglRendererPlugin", physicsClientId=self.client)
        except Exception:
            return False
        return plugin >= 0

    def _bodies(self, files: dict[int, str], rgba) -> dict[int, int]:
        cid = self.client
        out = {}
        with quiet_stdout():
            for link, fname in files.items():
                shape = p.createVisualShape(p.GEOM_MESH, fileName=fname, rgbaColor=list(rgba), physicsClientId=cid)
                if shape < 0:
                    continue
                out[link] = p.createMultiBody(baseMass=0, baseCollisionShapeIndex=-1, baseVisualShapeIndex=shape,
                                              basePosition=[0, -100, 0], physicsClientId=cid)
        return out

    def _place(self, bodies: dict[int, int], pose: Pose | None):
        cid = self.client
        for link, body in bodies.items():
            if pose is None:
                p.resetBasePositionAndOrientation(body, [0, -100, 0] if self.up_axis == 1 else [0, 0, -100],
                                                  [0, 0, 0, 1], physicsClientId=cid)
            else:
                pos, q = pose.frame(link)
                p.resetBasePositionAndOrientation(body, list(map(float, pos)), list(map(float, q)),
                                                  physicsClientId=cid)

    def draw(self, pose: Pose, ghost: Pose | None = None, follow: bool = True) -> np.ndarray:
        self._place(self.bodies, pose)
        if self.ghost_bodies:
            self._place(self.ghost_bodies, ghost)
        up = up_vector(self.up_axis)
        root = np.asarray(pose.base_pos, dtype=np.float64)
        target = root - up * (root @ up) + up * 0.9 * max(root @ up, 0.15)
        if self._target is None or not follow:
            self._target = target if self._target is None or follow else self._target
        else:  # a little smoothing keeps spins from shaking the camera
            self._target = 0.8 * self._target + 0.2 * target
        side = side_axis(self.up_axis)
        forward = np.cross(up, side)
        if self._offset is None:
            self._offset = camera_offset(self.up_axis, character_size(pose))
        eye = self._target + self._offset
        view = p.computeViewMatrix(eye.tolist(), self._target.tolist(), up.tolist(), physicsClientId=self.client)
        light = (0.4 * forward + 1.0 * up + 0.6 * side).tolist()
        renderer = p.ER_BULLET_HARDWARE_OPENGL if self.renderer == "egl" else p.ER_TINY_RENDERER
        with quiet_stdout() if self._quiet_frames else contextlib.nullcontext():  # EGL prints its vendor
            img = p.getCameraImage(self.width, self.height, view, self._proj, renderer=renderer, shadow=1,
                                   lightDirection=light, physicsClientId=self.client)
        self._quiet_frames = max(self._quiet_frames - 1, 0)
        rgba = np.asarray(img[2], dtype=np.uint8).reshape(self.height, self.width, 4)
        return np.ascontiguousarray(rgba[:, :, :3])

    def close(self):
        if self.client is not None:
            with quiet_stdout():
                p.disconnect(self.client)
            self.client = None
        self._tmp.cleanup()


def session_meshes(session) -> dict[int, LinkMesh]:
    if session.kind == "physics":
        return build_link_meshes(session.env.world.client, session.env.world.body)
    return character_link_meshes(session.character)


def check_output(out: str | os.PathLike) -> Path:
    out = Path(out)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise AwrMimicError(f"{out}: the video format comes from the extension: use .mp4, .gif or .webp")
    if not out.parent.exists():
        raise AwrMimicError(f"{out.parent}: no such directory")
    return out


def video_defaults(out: str | os.PathLike, seconds: float | None = None, width: int | None = None,
                   height: int | None = None, fps: float | None = None) -> tuple[float, int, int, float]:
    """(seconds, width, height, fps) for `out`'s format, each None replaced by the format's default."""
    d = DEFAULTS.get(Path(out).suffix.lower(), DEFAULTS[".mp4"])
    return tuple(d[i] if v is None else v for i, v in enumerate((seconds, width, height, fps)))


class _Writer:
    def __init__(self, out: Path, fps: float, quality: int | None = None):
        self.out, self.fps = out, fps
        suffix = out.suffix.lower()
        self.gif, self.webp = suffix == ".gif", suffix == ".webp"
        self.quality = WEBP_QUALITY if quality is None else int(quality)
        self.frames: list[np.ndarray] = []
        self._writer = None
        if not (self.gif or self.webp):
            import imageio.v2 as imageio

            self._writer = imageio.get_writer(str(out), fps=fps, codec="libx264", quality=7,
                                              pixelformat="yuv420p", ffmpeg_log_level="error")

    def append(self, frame: np.ndarray):
        if self._writer is None:
            self.frames.append(frame)
        else:
            self._writer.append_data(frame)

    def close(self):
        if self.gif and self.frames:
            import imageio.v3 as iio

            # GIF counts hundredths of a second: the nearest (Pillow would round 66.7 ms down to 60)
            iio.imwrite(str(self.out), np.stack(self.frames), duration=max(10, 10 * round(100.0 / self.fps)),
                        loop=0)
        elif self.webp and self.frames:
            from PIL import Image

            images = [Image.fromarray(f) for f in self.frames]
            # whole-millisecond frame times (the format's unit); method 6 would be 10x slower for 1% smaller
            images[0].save(str(self.out), format="WEBP", save_all=True, append_images=images[1:],
                           duration=int(round(1000.0 / self.fps)), loop=0, quality=self.quality, method=4)
        elif self._writer is not None:
            self._writer.close()


def render_video(session, out: str | os.PathLike, seconds: float | None = None, width: int | None = None,
                 height: int | None = None, fps: float | None = None, ghost: bool = True, ghost_offset: float = 0.0,
                 egl: bool = True, progress=None, quality: int | None = None) -> RenderStats:
    """Write `seconds` of the session to `out` (.mp4, .gif or .webp) at `fps`; returns frame count, time and
    renderer. None takes the format's default (:func:`video_defaults`); `quality` is WebP's lossy quality
    (0-100, default 60)."""
    out = check_output(out)
    seconds, width, height, fps = video_defaults(out, seconds, width, height, fps)
    if seconds <= 0 or fps <= 0:
        raise AwrMimicError("--seconds and --fps must be positive")
    if quality is not None and not 0 <= quality <= 100:
        raise AwrMimicError(f"--quality must be 0-100, got {quality}")
    if width < 16 or height < 16 or width > 4096 or height > 4096:
        raise AwrMimicError(f"video size must be 16-4096 pixels a side, got {width}x{height}")
    if round(seconds * fps) < 1:
        raise AwrMimicError(f"{seconds:g} s at {fps:g} fps is less than one frame")
    start = time.perf_counter()
    show_ghost = ghost and session.kind == "physics"
    drawer = FrameRenderer(session_meshes(session), session.character.up_axis, width, height, ghost=show_ghost,
                           egl=egl)
    n = int(round(seconds * fps))
    side = side_axis(session.character.up_axis)
    writer = _Writer(out, fps, quality)
    try:
        for i in frame_steps(session, n, fps):
            g = session.ghost_pose() if show_ghost else None
            if g is not None and ghost_offset:
                g = g.offset(side * ghost_offset)
            writer.append(drawer.draw(session.pose(), g))
            if progress is not None:
                progress(i + 1, n)
    finally:
        writer.close()
        drawer.close()
    return RenderStats(frames=n, seconds=time.perf_counter() - start, renderer=drawer.renderer)
