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
