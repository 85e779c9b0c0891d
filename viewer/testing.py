"""Helpers for browser tests of the viewer: Debian's chromium driven by Playwright.

Never `playwright install`: the browser is the system's (``/usr/bin/chromium``,
or ``$AWR_MIMIC_CHROMIUM``). A missing browser or Playwright is an error, not a
reason to skip, unless ``AWR_MIMIC_SKIP_BROWSER_TESTS=1`` says so explicitly
(for development machines without chromium; CI must never set it).
"""
from __future__ import annotations

import io
import os
import shutil
import socket

import numpy as np

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SKIP_ENV = "AWR_MIMIC_SKIP_BROWSER_TESTS"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("AWR_MIMIC_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def browser_problem() -> str | None:
    """Why browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright; never `playwright install`)"
    if chromium_path() is None:
        return "chromium not found (apt-get install -y chromium, or set AWR_MIMIC_CHROMIUM)"
    return None


def require_browser(pytest) -> None:
    """Fail (or skip, only with AWR_MIMIC_SKIP_BROWSER_TESTS=1) when the browser is missing."""
    problem = browser_problem()
    if problem is None:
        return
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{problem}; skipped because {SKIP_ENV}=1")
    pytest.fail(f"browser test cannot run: {problem}", pytrace=False)


def launch(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot_array(locator) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"))


def warm_pixels(img: np.ndarray) -> int:
    """Pixels of the character's orange (red well above blue): the solid character is on screen."""
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return int(((r - b) > 60).sum())


def is_blank(img: np.ndarray) -> bool:
    return float(img.reshape(-1, 3).std(axis=0).max()) < 3.0
