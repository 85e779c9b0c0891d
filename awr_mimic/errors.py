"""User-facing errors.

Anything a user can get wrong (a damaged clip, an unknown name, a bad config
value) raises :class:`AwrMimicError` with one line that names the problem.
The CLI prints that line and exits with status 2; it never shows a traceback
for these.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class AwrMimicError(Exception):
    """An error caused by user input, reported as one line."""


class ClipError(AwrMimicError, ValueError):
    """A motion clip file is missing, malformed or inconsistent."""


class ConfigError(AwrMimicError, ValueError):
    """A config value or option is invalid."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> AwrMimicError:
    """An error for an unknown `kind` called `name`, suggesting close matches."""
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    listing = f" (known: {', '.join(known)})" if len(known) <= 30 else ""
    return AwrMimicError(f"unknown {kind} {name!r}{hint}{listing}")


def show(value) -> str:
    """`repr(value)` for an error message, with numpy values shown as plain numbers.

    numpy 2 reprs scalars as ``np.float64(-0.1)``; a user wants ``-0.1``. numpy
    scalars become python scalars and arrays become (nested) lists before
    ``repr``, also inside lists, tuples and dicts. Strings stay quoted.
    """
    return repr(_plain(value))


def _plain(value):
    import sys

    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
