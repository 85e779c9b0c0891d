"""Where the data the package reads lives.

`assets/` and `motions/` sit at the top of the repository and are installed
inside the package as `awr_mimic/_assets` and `awr_mimic/_motions`, so a plain
`pip install` carries them; an editable install reads the repository's folders.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def pybullet_data_dir() -> Path:
    import pybullet_data

    return Path(pybullet_data.getDataPath())


def _data_dir(name: str) -> Path:
    installed = PACKAGE_DIR / f"_{name}"
    if installed.is_dir():
        return installed
    return PACKAGE_DIR.parent / name  # source checkout / editable install


def assets_dir() -> Path:
    return _data_dir("assets")


def motions_dir() -> Path:
    return _data_dir("motions")


def controllers_dirs() -> list[Path]:
    """Where shipped controllers live: `<dir>/<character>/<clip>.pt`.

    $AWR_MIMIC_CONTROLLERS (os.pathsep-separated) replaces the default `assets/controllers`.
    """
    override = [Path(p).expanduser() for p in os.environ.get("AWR_MIMIC_CONTROLLERS", "").split(os.pathsep) if p]
    return override or [assets_dir() / "controllers"]


def user_motion_dirs() -> list[Path]:
    """Extra clip folders: $AWR_MIMIC_MOTIONS (os.pathsep-separated) and ./motions."""
    dirs = [Path(p) for p in os.environ.get("AWR_MIMIC_MOTIONS", "").split(os.pathsep) if p]
    cwd_motions = Path.cwd() / "motions"
    if cwd_motions.is_dir() and cwd_motions.resolve() != motions_dir().resolve():
        dirs.append(cwd_motions)
    return dirs


def resolve(spec: str, relative_to: Path | None = None) -> Path:
    """`pybullet_data:sub/path`, `assets:sub/path`, or a plain (maybe relative) path."""
    if spec.startswith("pybullet_data:"):
        return pybullet_data_dir() / spec.split(":", 1)[1]
    if spec.startswith("assets:"):
        return assets_dir() / spec.split(":", 1)[1]
    path = Path(spec).expanduser()
    if not path.is_absolute() and relative_to is not None:
        path = relative_to / path
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """A file's sha256 (clips and datasets are identified by it)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
