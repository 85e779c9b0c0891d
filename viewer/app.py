"""The browser viewer: a viser server showing a session, with playback controls.

One thread (``_loop``) advances the session in wall-clock time and pushes poses
to the scene; GUI callbacks run in viser's thread pool and take the same lock,
so pybullet is only ever touched by one thread at a time. GUI state and the
scene are shared by every connected tab; a tab closing only drops its camera.

The viewer only does what its page offers: the Clip control opens only the clips it lists (viser
does not check a dropdown's value against its options), and the WebSocket accepts only connections
from its own page (:func:`origin_problem`, hooked into viser's handshake by
:func:`install_origin_guard`): another site open in the same browser cannot drive it.
"""
from __future__ import annotations

import contextlib
import io
import ipaddress
import math
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

import numpy as np

from awr_mimic_viewer.meshes import build_link_meshes, character_link_meshes
from awr_mimic_viewer.scene import GHOST_COLOR, GHOST_OPACITY, CharacterRig, setup_world
from awr_mimic_viewer.session import camera_offset, character_size, side_axis, up_vector

TERM_COLORS = {
    "reward": "#222222",
    "pose": "#e4572e",
    "velocity": "#29335c",
    "end_effector": "#f3a712",
    "root": "#669bbc",
    "com": "#a8c686",
    "joint_angle_error": "#c1121f",
    "end_effector_error": "#003049",
}
TIME_STEP = 0.01  # s: the Time slider's step; its end and value are shown to this precision


def shown(x: float, decimals: int = 2) -> float:
    """`x` rounded for a GUI number (viser shows every digit of a slider's value, end and step).

    Only what is displayed is rounded; the session keeps exact times.
    """
    return round(float(x), decimals)


def timeline_end(duration: float) -> float:
    """The Time slider's end: the clip duration rounded up to the slider step (1.266616 s -> 1.27).

    Up, so the whole clip stays reachable; seeking past the end clamps to it.
    """
    steps = math.ceil(round(float(duration) / TIME_STEP, 6))
    return max(round(steps * TIME_STEP, 2), TIME_STEP)


# ------------------------------------------------------------ who may connect

_EXTRA_HOSTS: set[str] = set()  # --allow-host names, for every viewer of this process
_GUARD_LOCK = threading.Lock()


def trusted_hostname(name: str | None, extra=()) -> bool:
    """A name a page of this viewer can be served under without DNS rebinding: an IP address,
    localhost, this machine's own name, or one the user allowed (--allow-host)."""
    if not name:
        return False
    name = name.lower().rstrip(".")
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        pass
    if name == "localhost" or name.endswith(".localhost"):
        return True
    own = {socket.gethostname().lower(), socket.getfqdn().lower()}
    return name in own or name in {h.lower() for h in extra} or name in _EXTRA_HOSTS


def origin_problem(origin: str | None, host: str | None, extra=()) -> str | None:
    """Why a WebSocket handshake with these Origin and Host headers is not from this viewer's page
    (None: it is). The page's Origin must be the address it was served from (the Host the browser
    sent), and that address must be this machine's (no DNS rebinding)."""
    if not host:
        return "no Host header"
    if not origin:
        return "no Origin header (a browser always sends one)"
    o = urlsplit(origin)
    if o.scheme not in ("http", "https") or not o.netloc:
        return f"Origin {origin!r} is not a web page"
    if o.netloc.lower() != host.lower():
        return f"Origin {origin!r} is another site than this viewer ({host})"
    if not trusted_hostname(o.hostname, extra):
        return f"{host} is not a name of this machine (add it with --allow-host)"
    return None


def _guarded(process_request):
    """viser's process_request, behind the Origin/Host check for WebSocket upgrades."""
    import http

    def check(connection, request):
        h = request.headers
        if h.get("Upgrade", "").lower() == "websocket":
            why = origin_problem(h.get("Origin"), h.get("Host"))
            if why is not None:
                print(f"awr-mimic view: refused a connection: {why}", file=sys.stderr, flush=True)
                return connection.respond(http.HTTPStatus.FORBIDDEN, f"awr-mimic viewer: {why}\n")
        return process_request(connection, request) if process_request is not None else None

    return check


class _Proxy:
    """Stands in for a module, overriding some attributes."""

    def __init__(self, real, **override):
        self._real, self._override = real, override

    def __getattr__(self, name):
        if name in self._override:
            return self._override[name]
        return getattr(self._real, name)


def install_origin_guard() -> None:
    """Check every WebSocket handshake of viser's servers in this process (idempotent).

    viser (1.x) serves its page and its WebSocket on one port with ``websockets.asyncio.server.serve``
    and a ``process_request`` hook of its own, and checks no Origin. Its module refers to
    ``websockets`` as a global; it is replaced by a proxy whose ``asyncio.server.serve`` wraps that
    hook with :func:`origin_problem`, so a refused handshake gets HTTP 403 before viser sees it.
    """
    from viser.infra import _infra

    with _GUARD_LOCK:
        real = _infra.websockets
        if isinstance(real, _Proxy):
            return
        serve = real.asyncio.server.serve

        def guarded_serve(*args, **kwargs):
            kwargs["process_request"] = _guarded(kwargs.get("process_request"))
            return serve(*args, **kwargs)

        server = _Proxy(real.asyncio.server, serve=guarded_serve)
        _infra.websockets = _Proxy(real, asyncio=_Proxy(real.asyncio, server=server))


class ViewerApp:
    def __init__(self, session, host: str = "127.0.0.1", port: int = 8080, ghost: bool = True,
                 ghost_offset: float = 0.0, follow: bool = True, speed: float = 1.0, fps: float = 30.0,
                 push_strength: float = 30.0, playing: bool = True, environment_map: bool = False,
                 allow_hosts=()):
        self.session = session
        self.allow_hosts = tuple(allow_hosts)
        self.host = host
        self.requested_port = port
        self.fps = float(fps)
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._accumulator = 0.0
        self._follow_target: np.ndarray | None = None
        self._placed_cameras: set[int] = set()
        self._push_marker_until = 0.0
        self._last_text = 0.0
        self.frames = 0
        self.last_push = None
        self._initial = dict(ghost=ghost, ghost_offset=ghost_offset, follow=follow, speed=speed,
                             push_strength=push_strength, playing=playing, environment_map=environment_map)
        self.server = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "ViewerApp":
        import viser

        install_origin_guard()
        _EXTRA_HOSTS.update(h.lower() for h in self.allow_hosts)
        with contextlib.redirect_stdout(io.StringIO()):  # viser prints its own banner; we print the URL
            self.server = viser.ViserServer(host=self.host, port=self.requested_port, verbose=False)
        self.port = self.server.get_port()
        self._build_scene()
        self._build_gui()
        self.server.scene.on_click()(self._on_click)
        self.server.on_client_disconnect(lambda client: self._placed_cameras.discard(client.client_id))
        self._redraw(text=True)
        self._thread = threading.Thread(target=self._loop, name="awr-mimic-viewer", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host = "localhost" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.server is not None:
            with contextlib.redirect_stdout(io.StringIO()):
                self.server.stop()
            self.server = None
        self.session.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def serve_forever(self) -> None:
        try:
            while not self._stop.is_set():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass

    # ------------------------------------------------------------ scene

    def _meshes(self):
        s = self.session
        if s.kind == "physics":
            return build_link_meshes(s.env.world.client, s.env.world.body)
        return character_link_meshes(s.character)

    def _build_scene(self):
        scene = self.server.scene
        up = self.session.character.up_axis
        setup_world(scene, up, environment_map=self._initial["environment_map"])
        self._up = up_vector(up)
        self._side = side_axis(up)
        self._make_rigs()
        # camera: side view of the character (characters face +x), framed by its size
        pose = self.session.pose()
        target = pose.base_pos
        self._view_offset = camera_offset(up, character_size(pose))
        self.server.initial_camera.position = tuple(self._camera_offset() + target)
        self.server.initial_camera.look_at = tuple(target)
        self._follow_target = self._horizontal(target)

    def _make_rigs(self):
        meshes = self._meshes()
        scene = self.server.scene
        self.character_rig = CharacterRig(scene, "/character", meshes)
        self.ghost_rig = CharacterRig(scene, "/ghost", meshes, color=GHOST_COLOR, opacity=GHOST_OPACITY,
                                      visible=self._initial["ghost"] and self.session.kind == "physics")
        self.push_marker = scene.add_line_segments(
            "/push", points=np.zeros((1, 2, 3), np.float32), colors=(230, 30, 30), thickness=0.02, visible=False
        )

    def _camera_offset(self) -> np.ndarray:
        return self._view_offset

    def _horizontal(self, v) -> np.ndarray:
        v = np.array(v, dtype=np.float64)
        return v - self._up * (v @ self._up)

    # ------------------------------------------------------------ GUI

    def _build_gui(self):
        gui = self.server.gui
        s = self.session
        init = self._initial
        gui.configure_theme(control_width="large")
        self.title = gui.add_markdown(self._title_text())

        with gui.add_folder("Playback"):
            self.play_button = gui.add_button("Pause" if init["playing"] else "Play", icon=None)
            self.playing = bool(init["playing"])
            self.step_button = gui.add_button("Step", hint="advance one control step (pauses)")
            self.speed = gui.add_slider("Speed", min=0.1, max=4.0, step=0.1, initial_value=shown(init["speed"]),
                                        marks=((0.1, "0.1x"), (1.0, "1x"), (2.0, "2x"), (4.0, "4x")))
            self.reset_rsi = gui.add_button("Reset: random start", hint="reference state initialisation at a random phase")
            self.reset_zero = gui.add_button("Reset: phase 0")
            self.timeline = gui.add_slider("Time (s)", min=0.0, max=timeline_end(s.duration), step=TIME_STEP,
                                           initial_value=0.0, disabled=s.kind != "motion",
                                           hint="scrub the clip (motion playback)")
            self.clip_dropdown = gui.add_dropdown("Clip", options=self._clip_options(), initial_value=self._clip_label)

        with gui.add_folder("View"):
            self.follow = gui.add_checkbox("Camera follow", initial_value=bool(init["follow"]))
            self.show_ghost = gui.add_checkbox("Show ghost", initial_value=bool(init["ghost"]),
                                               disabled=s.kind != "physics",
                                               hint="translucent reference motion")
            self.ghost_offset = gui.add_slider("Ghost side offset (m)", min=0.0, max=2.0, step=0.05,
                                               initial_value=shown(init["ghost_offset"]))

        with gui.add_folder("Push"):
            self.push_strength = gui.add_slider("Push impulse (N s)", min=0.0, max=200.0, step=5.0,
                                                initial_value=shown(init["push_strength"], 1),
                                                disabled=s.kind != "physics")
            self.push_text = gui.add_markdown(
                "Click a body part to push it along the click ray."
                if s.kind == "physics" else "Pushes need physics: run with `--checkpoint` or `--track`."
            )

        with gui.add_folder("Stats"):
            self.readout = gui.add_markdown("")
            if s.kind == "physics":
                terms = [k for k in s.series_names() if k not in ("time", "joint_angle_error", "end_effector_error")]
                self.reward_plot = gui.add_uplot(
                    data=tuple(np.zeros(2) for _ in range(len(terms) + 1)),
                    series=({"label": "t (s)"},) + tuple(
                        {"label": k, "stroke": TERM_COLORS.get(k, "#888"), "width": 2 if k == "reward" else 1}
                        for k in terms),
                    title="Reward terms",
                    scales={"y": {"auto": False, "range": (0.0, 1.0)}},
                    aspect=1.6,
                )
                self.error_plot = gui.add_uplot(
                    data=(np.zeros(2), np.zeros(2), np.zeros(2)),
                    series=({"label": "t (s)"},
                            {"label": "joint angle error (rad)", "stroke": TERM_COLORS["joint_angle_error"]},
                            {"label": "end effector error (m)", "stroke": TERM_COLORS["end_effector_error"]}),
                    title="Tracking errors",
                    aspect=1.6,
                )
                self._plot_terms = terms
            else:
                self.reward_plot = self.error_plot = None

        self.play_button.on_click(self._on_play)
        self.step_button.on_click(self._on_step)
        self.reset_rsi.on_click(lambda e: self._on_reset(True))
        self.reset_zero.on_click(lambda e: self._on_reset(False))
        self.timeline.on_update(self._on_scrub)
        self.clip_dropdown.on_update(self._on_clip)
        self.show_ghost.on_update(self._on_ghost)
        self.ghost_offset.on_update(lambda e: self._redraw())
        self.follow.on_update(self._on_follow)

    def _title_text(self) -> str:
        s = self.session
        what = f"policy `{s.policy_name}` in physics" if s.kind == "physics" else "kinematic clip playback"
        return f"**{s.character.name}** · {what}"

    def _clip_options(self) -> list[str]:
        """The Clip control's labels; ``self._clip_values`` maps each to what the session opens (a
        registered clip's name, or the file the user gave on the command line). Nothing else opens."""
        from pathlib import Path

        from awr_mimic.characters import list_clips
        from awr_mimic.characters.clips import is_clip_path

        names = [e.name for e in list_clips(self.session.character)]
        self._clip_values = {n: n for n in names}
        label = self.session.clip.name
        source = getattr(self.session, "clip_source", None)
        if isinstance(source, str) and is_clip_path(source):  # the user's file: it stays reachable
            if label in self._clip_values:
                label = f"{label} ({Path(source).name})"
            self._clip_values[label] = source
        elif label not in self._clip_values:
            self._clip_values[label] = source or label
        self._clip_label = label
        return list(self._clip_values)

    # ------------------------------------------------------------ callbacks

    def _on_play(self, event=None):
        with self.lock:
            self.set_playing(not self.playing)

    def set_playing(self, playing: bool) -> None:
        self.playing = bool(playing)
        self.play_button.label = "Pause" if self.playing else "Play"
        self._accumulator = 0.0

    def _on_step(self, event=None):
        with self.lock:
            self.set_playing(False)
            self.session.advance()
            self._redraw(text=True)

    def _on_reset(self, random_start: bool):
        with self.lock:
            self.session.reset(random_start)
            self._redraw(text=True)

    def _on_scrub(self, event):
        if event.client is None or self.session.kind != "motion":
            return  # our own updates of the slider, or physics (the timeline only shows time there)
        with self.lock:
            self.set_playing(False)
            self.session.seek(float(self.timeline.value))
            self._redraw(update_timeline=False, text=True)

    def _on_clip(self, event):
        label = self.clip_dropdown.value
        if label == self._clip_label:
            return
        with self.lock:
            if label not in self._clip_values:  # viser does not check a value against the options
                print(f"awr-mimic view: refused clip {label!r}: not one of the Clip control's options",
                      file=sys.stderr, flush=True)
                self._notify("Not a clip of this viewer", f"{label!r} is not in the list")
                self.clip_dropdown.value = self._clip_label
                return
            try:
                self.session.set_clip(self._clip_values[label])
            except Exception as exc:  # a broken clip file: say so in the GUI, keep the old clip
                self._notify("Cannot load clip", str(exc).splitlines()[0])
                self.clip_dropdown.value = self._clip_label
                return
            self._clip_label = label
            self.timeline.max = timeline_end(self.session.duration)
            self._redraw(text=True)

    def _on_ghost(self, event=None):
        with self.lock:
            self.ghost_rig.visible = bool(self.show_ghost.value) and self.session.kind == "physics"
            self._redraw()

    def _on_follow(self, event=None):
        with self.lock:
            self._follow_target = None

    def _on_click(self, event):
        s = self.session
        if s.kind != "physics":
            self.push_text.content = "Pushes need physics: run with `--checkpoint` or `--track`."
            return
        with self.lock:
            hit = s.pick(event.ray_origin, event.ray_direction)
            if hit is None:
                self.push_text.content = "Missed: click a body part to push it."
                return
            link, point = hit
            impulse = float(self.push_strength.value)
            record = s.push(link, point, event.ray_direction, impulse)
            self.last_push = record
            self.push_text.content = (
                f"Pushed **{record.link_name}** with {impulse:.0f} N s"
                + ("" if self.playing else " (applies on the next step)")
            )
            start = point - 0.4 * record.direction
            self.push_marker.points = np.array([[start, point]], dtype=np.float32)
            self.push_marker.visible = True
            self._push_marker_until = time.monotonic() + 0.8

    # ------------------------------------------------------------ loop

    def _loop(self):
        frame_dt = 1.0 / self.fps
        next_frame = time.monotonic()
        while not self._stop.is_set():
            try:
                with self.lock:
                    if self.playing:
                        self._advance(frame_dt * float(self.speed.value))
                        self._redraw()
                        self.frames += 1
                    elif time.monotonic() - self._last_text > 0.5:
                        self._redraw(text=True)  # paused: keep the readouts and marker fresh, rarely
            except Exception as exc:  # never let one bad frame kill the viewer
                import traceback

                traceback.print_exc()
                self._notify_error(exc)
                with self.lock:
                    self.set_playing(False)
            next_frame += frame_dt
            delay = next_frame - time.monotonic()
            if delay < -0.5:  # fell far behind (slow machine): don't try to catch up
                next_frame = time.monotonic()
            self._stop.wait(max(delay, 0.001))

    def _advance(self, seconds: float):
        s = self.session
        if s.kind == "motion":
            s.advance(seconds)
            return
        self._accumulator += seconds
        steps = 0
        while self._accumulator >= s.dt - 1e-9 and steps < 8:
            s.advance()
            self._accumulator -= s.dt
            steps += 1
        if steps == 8:
            self._accumulator = 0.0

    def _notify_error(self, exc):
        self._notify("Viewer error", str(exc).splitlines()[0] if str(exc) else repr(exc))

    def _notify(self, title: str, body: str) -> None:
        """A red notification in every open tab (viser's notifications are per client)."""
        try:
            clients = list(self.server.get_clients().values())
        except Exception:  # noqa: BLE001
            return
        for client in clients:
            try:
                client.add_notification(title, body, color="red")
            except Exception:  # noqa: BLE001 - a tab closing meanwhile
                pass

    def _redraw(self, update_timeline: bool = True, text: bool = False):
        s = self.session
        pose = s.pose()
        ghost = s.ghost_pose() if self.ghost_rig.visible else None
        with self.server.atomic():
            self.character_rig.update(pose)
            if ghost is not None:
                offset = float(self.ghost_offset.value)
                self.ghost_rig.update(ghost.offset(self._side * offset) if offset else ghost)
            if self.push_marker.visible and time.monotonic() > self._push_marker_until:
                self.push_marker.visible = False
        if self.follow.value:
            self._follow(pose.base_pos)
        now = time.monotonic()
        if text or now - self._last_text > 0.2:
            self._last_text = now
            if update_timeline:
                local = s.local_time if s.kind == "motion" else s.phase * s.duration
                self.timeline.value = shown(min(max(local, 0.0), self.timeline.max))
            content = self._readout_text()
            if content != self.readout.content:
                self.readout.content = content
                self._update_plots()

    def _follow(self, root):
        """Keep every tab's look-at point over the character, keeping each tab's own view offset.

        Absolute, not incremental: a tab's reported camera can lag behind what we
        last sent, and adding deltas to a stale value would lose movement.
        """
        target = self._horizontal(root)
        clients = self.server.get_clients()
        if (self._follow_target is not None and float(np.sum((target - self._follow_target) ** 2)) < 1e-8
                and self._placed_cameras.issuperset(clients)):
            return
        self._follow_target = target
        for client in list(clients.values()):
            try:  # a tab may be connecting (no camera yet) or closing right now
                cam = client.camera
                if client.client_id not in self._placed_cameras:
                    # a new tab: its first reported camera may predate the initial view; place it ourselves
                    if cam.update_timestamp == 0.0:
                        continue
                    self._placed_cameras.add(client.client_id)
                    with client.atomic():
                        cam.position = root + self._camera_offset()
                        cam.look_at = np.asarray(root, dtype=np.float64)
                    continue
                look_at = np.asarray(cam.look_at, dtype=np.float64)
                offset = np.asarray(cam.position, dtype=np.float64) - look_at
                new_look = target + self._up * float(look_at @ self._up)
                if float(np.sum((new_look - look_at) ** 2)) < 1e-8:
                    continue
                with client.atomic():
                    cam.position = new_look + offset  # moves the look-at point along with it
                    cam.look_at = new_look
            except Exception:
                pass

    def _readout_text(self) -> str:
        s = self.session
        r = s.readouts()
        lines = [f"clip **{s.clip.name}** · t = {r['time']:.2f} s · phase {r['phase']:.2f}"]
        if s.kind == "physics":
            lines.append(f"reward {r['reward']:.3f} · episode return **{r['episode_return']:.2f}** "
                         f"· normalised return **{r['normalised_return']:.3f}** ({r['episode_steps']} steps)")
            if "joint_angle_error" in r:
                lines.append(f"joint angle error {r['joint_angle_error']:.3f} rad · end effector error "
                             f"{r.get('end_effector_error', 0.0):.3f} m")
            if s.last_episode:
                e = s.last_episode
                lines.append(f"last episode: return {e['return']:.2f}, normalised {e['normalised']:.3f}, "
                             f"{e['steps']} steps, {e['reason']}")
        else:
            lines.append(f"frame {r['frame']} / {s.clip.num_frames - 1} · duration {s.duration:.2f} s "
                         f"· loop {s.clip.loop}")
        return "  \n".join(lines)

    def _update_plots(self):
        s = self.session
        if self.reward_plot is None or len(s.history["time"]) < 2:
            return
        t = np.array(s.history["time"])
        n = len(t)

        def series(k):
            v = np.array(s.history[k]) if k in s.history else np.zeros(0)
            return v if len(v) == n else np.resize(v, n) if len(v) else np.zeros(n)

        self.reward_plot.data = (t, *(series(k) for k in self._plot_terms))
        self.error_plot.data = (t, series("joint_angle_error"), series("end_effector_error"))


def run_viewer(session, host: str = "127.0.0.1", port: int = 8080, **options) -> int:
    app = ViewerApp(session, host=host, port=port, **options).start()
    print(f"awr-mimic view: serving {app.url}  (Ctrl+C to stop)", flush=True)
    if app.host in ("127.0.0.1", "localhost"):
        print(f"  from another machine: ssh -L {app.port}:127.0.0.1:{app.port} <this host>, "
              f"then open http://localhost:{app.port}", flush=True)
    try:
        app.serve_forever()
    finally:
        app.stop()
    return 0
