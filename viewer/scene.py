"""viser scene pieces shared by the live viewer and the HTML export."""
from __future__ import annotations

import numpy as np

from awr_mimic_viewer.meshes import LinkMesh, Pose

CHARACTER_COLOR = (214, 140, 84)
GHOST_COLOR = (90, 160, 255)
GHOST_OPACITY = 0.35


def xyzw_to_wxyz(q) -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    return np.array([q[3], q[0], q[1], q[2]])


def setup_world(scene, up_axis: int, size: float = 40.0, environment_map: bool = False) -> None:
    """Up direction, lights and a ground grid on the plane normal to up (xz for y-up characters).

    viser's default image-based lighting takes seconds per client to set up under
    software WebGL (SwiftShader: headless browsers, remote desktops), so by default
    a hemisphere light replaces it.
    """
    scene.set_up_direction("+y" if up_axis == 1 else "+z")
    if not environment_map:
        scene.configure_environment_map(None)
        scene.add_light_hemisphere("/lights/sky", sky_color=(255, 255, 255), ground_color=(120, 110, 100),
                                   intensity=2.2)
    scene.add_grid(
        "/ground",
        width=size,
        height=size,
        plane="xz" if up_axis == 1 else "xy",
        cell_size=0.5,
        section_size=1.0,
        plane_color=(235, 235, 235),
        plane_opacity=0.6,
        shadow_opacity=0.2,
    )


class CharacterRig:
    """One mesh per link under `root` (e.g. /character/<link>), posed from a :class:`Pose`."""

    def __init__(self, scene, root: str, meshes: dict[int, LinkMesh], color=CHARACTER_COLOR,
                 opacity: float | None = None, visible: bool = True):
        self.root = root
        self.handles = {}
        self._visible = visible
        for link, lm in sorted(meshes.items()):
            rgba = lm.rgba
            # pybullet's default white/grey means "no colour given": use the rig's colour
            own = None if all(c > 0.95 for c in rgba[:3]) or all(abs(c - 0.7) < 0.01 for c in rgba[:3]) else rgba
            rgb = tuple(int(255 * c) for c in own[:3]) if own is not None and opacity is None else color
            self.handles[link] = scene.add_mesh_simple(
                f"{root}/{lm.name or link}",
                vertices=np.asarray(lm.mesh.vertices, dtype=np.float32),
                faces=np.asarray(lm.mesh.faces, dtype=np.uint32),
                color=rgb,
                opacity=opacity,
                flat_shading=False,
                cast_shadow=opacity is None,
                receive_shadow=opacity is None,
                visible=visible,
            )

    def update(self, pose: Pose) -> None:
        for link, handle in self.handles.items():
            pos, q = pose.frame(link)
            handle.position = np.asarray(pos, dtype=np.float64)
            handle.wxyz = xyzw_to_wxyz(q)

    @property
    def visible(self) -> bool:
        return self._visible

    @visible.setter
    def visible(self, value: bool) -> None:
        value = bool(value)
        if value != self._visible:
            self._visible = value
            for handle in self.handles.values():
                handle.visible = value

    def remove(self) -> None:
        for handle in self.handles.values():
            handle.remove()
        self.handles.clear()
