"""Helpers for browser tests of the viewer: Debian's chromium driven by Playwright.

Never `playwright install`: the browser is the system's (``/usr/bin/chromium``,
or ``$AWR_MIMIC_CHROMIUM``). Without chromium or Playwright the browser tests
skip with one line saying how to enable them, so ``python -m pytest -q`` passes
on a fresh machine; in CI (``CI=true``, as ``.ci/run`` exports) a missing
browser fails them instead, so CI can never pass by skipping them.
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
CHROMIUM_ENV = "AWR_MIMIC_CHROMIUM"
ENABLE = "to run the viewer's browser tests"
NO_CHROMIUM = f"chromium not found: apt-get install chromium (or set {CHROMIUM_ENV}=/path/to/chrome) {ENABLE}"
NO_PLAYWRIGHT = f"playwright not installed: pip install playwright (never `playwright install`) {ENABLE}"


def chromium_path() -> str | None:
    for candidate in (os.environ.get(CHROMIUM_ENV), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def is_ci(ci_env: str | None) -> bool:
    """Whether the value of $CI says this is CI (``true``, ``1``, ``yes``; not ``false``, ``0`` or unset)."""
    return (ci_env or "").strip().lower() in ("true", "1", "yes", "on")


def browser_action(browser_path: str | None, ci_env: str | None, playwright: bool = True) -> tuple[str, str]:
    """What a browser test does here: ("run", ""), or ("skip" | "fail", one-line reason).

    Pure: `browser_path` is the chromium found (or None), `ci_env` the value of $CI,
    `playwright` whether Playwright imports. Missing pieces skip, except in CI.
    """
    problem = NO_PLAYWRIGHT if not playwright else NO_CHROMIUM if browser_path is None else None
    if problem is None:
        return "run", ""
    if is_ci(ci_env):
        return "fail", f"CI={ci_env} needs the viewer's browser tests to run, but {problem}"
    return "skip", problem


def browser_problem() -> str | None:
    """Why browser tests cannot run here, or None."""
    action, reason = browser_action(chromium_path(), None, has_playwright())
    return reason if action != "run" else None


def require_browser(pytest) -> str:
    """The chromium to drive; otherwise skip the test (or fail it when $CI is true) with one line."""
    action, reason = browser_action(chromium_path(), os.environ.get("CI"), has_playwright())
    if action == "skip":
        pytest.skip(reason)
    if action == "fail":
        pytest.fail(reason, pytrace=False)
    return chromium_path()


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
