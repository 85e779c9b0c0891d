"""Sessions from the command line's choices: a checkpoint, PD tracking, or a bare clip."""
from __future__ import annotations

from pathlib import Path

from awr_mimic.errors import AwrMimicError


def _unwrap_mimic(env):
    from awr_mimic.envs.mimic_env import MimicEnv

    base = getattr(env, "unwrapped", env)
    if not isinstance(base, MimicEnv):
        env.close()
        raise AwrMimicError(
            f"the viewer shows motion-imitation checkpoints (awr_mimic/Mimic-v0); this env is {type(base).__name__}"
        )
    return base


def load_checkpoint(path: str | Path, deterministic: bool = True, clip: str | None = None):
    """(make_env(clip) -> MimicEnv, policy(obs, env) -> action, env spec) from a learner checkpoint,
    or a shipped controller by name (``humanoid/walk``; ``./humanoid/walk`` for a folder of that name).
    `clip`: the user's clip (a name or their copy of the file), e.g. for a controller shipped without it."""
    make_env, act, ck = _open(path, deterministic, clip)
    return make_env, act, ck.env_spec


def _open(path, deterministic: bool = True, clip: str | None = None):
    import torch

    from awr_mimic.learning.checkpoint import check_compatible, open_policy
    from awr_mimic.learning.networks import SpaceInfo

    torch.set_num_threads(1)  # one forward pass per control step: threads only add overhead
    ck = open_policy(path, clip=clip)
    policy, spec = ck.policy, ck.env_spec
    if not spec.is_mimic:
        raise AwrMimicError(f"{path}: the viewer shows awr_mimic/Mimic-v0 checkpoints, this one is for {spec.id}")
    space = policy.space

    def make_env(clip: str | None):
        used = spec.with_clip(clip, note=False) if clip else spec  # the Clip control's choices, or the user's
        env = _unwrap_mimic(used.make())
        try:
            check_compatible(ck, SpaceInfo.from_env(env), used)  # one line, not a shape error mid-step
        except AwrMimicError:
            env.close()
            raise
        return env

    def act(obs, env):
        return space.to_env_action(policy.act(obs, None, deterministic=deterministic))

    return make_env, act, ck


def make_session(checkpoint: str | None = None, character: str | None = None, clip: str | None = None,
                 track: bool = False, random_start: bool = False, seed: int | None = None,
                 control_hz: int | None = None):
    """The session a `view`/`render`/`export` command asked for.

    - checkpoint: the policy runs live in physics (the clip option switches the reference clip);
    - track: physics with the reference pose as PD targets (no learned policy);
    - otherwise: the clip plays kinematically.
    """
    from awr_mimic_viewer.session import MotionSession, PhysicsSession, reference_policy

    if checkpoint is not None:
        if character is not None:
            raise AwrMimicError("--character comes from the checkpoint; pass either --checkpoint or --character")
        make_env, act, ck = _open(checkpoint, clip=clip)
        return PhysicsSession(make_env, act, policy_name=ck.name or Path(checkpoint).name, clip=clip,
                              random_start=random_start, seed=seed)
    import awr_mimic
    from awr_mimic.characters import get_character

    character = character or "humanoid"
    get_character(character)  # unknown names fail here, with suggestions
    if track:
        options = {} if control_hz is None else {"control_hz": control_hz}

        def make_env(name: str | None):
            return awr_mimic.make_env(character=character, clip=name or clip, **options)

        return PhysicsSession(make_env, reference_policy, policy_name="PD tracking of the reference", clip=clip,
                              random_start=random_start, seed=seed)
    return MotionSession(character, clip, random_start=random_start, seed=seed)
