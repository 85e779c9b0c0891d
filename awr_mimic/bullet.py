"""pybullet, imported once without its build-time banner, and a way to silence its C-level output.

A top-level utility (like `errors` and `paths`) so every layer can use it without importing a layer
above its own.
"""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_stdout(streams=(1, 2)):
    """Silence C-level output: pybullet's URDF importer prints warnings on stdout and
    its connect() prints its build time on stderr."""
    saved = []
    try:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (AttributeError, OSError, ValueError):
        yield
        return
    try:
        for fd in streams:
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(devnull, fd)
            except OSError:
                pass
        yield
    finally:
        _flush_c_stdio()  # C stdio buffers until exit when stdout is not a terminal
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


def _flush_c_stdio():
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass


with quiet_stdout():  # pybullet prints its build time on import
    import pybullet as p
