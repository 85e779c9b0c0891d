"""The revision of the physics awr-mimic's worlds simulate, as stored in checkpoints.

A policy trained under an older revision met other physics and may act worse now, so loading one
says what changed. A top-level utility (like `errors` and `paths`): `learning` reads it without
importing `envs` or pybullet.
"""
from __future__ import annotations


# Bump it whenever world physics changes (envs/world.py), and say what changed.
#   1: until 2026-12-03, the characters' links had friction 0.5 (0.45 with the ground), not 0.9
#   2: every link at DeepMimic's 0.9 (0.81 with the ground)
PHYSICS_REVISION = 2
PHYSICS_CHANGES = {2: "the characters' links had friction 0.5 instead of DeepMimic's 0.9 before 2026-12-03"}


def physics_changes(revision) -> str | None:
    """What changed in the physics since `revision` (None when it is current). Checkpoints written
    before revisions were stored count as revision 1."""
    try:
        revision = int(revision) if revision is not None else 1
    except (TypeError, ValueError):
        revision = 1
    changes = [why for rev, why in sorted(PHYSICS_CHANGES.items()) if rev > revision]
    return "; ".join(changes) or None
