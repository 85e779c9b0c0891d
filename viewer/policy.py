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


def load_checkpoint(path: str | Path, deterministic: bool = True):
    """(make_env(clip) -> MimicEnv, policy(obs, env) -> action, description) from a learner checkpoint."""
    import torch

    from awr_mimic.learning.checkpoint import load_policy

    torch.set_num_threads(1)  # one forward pass per control step: threads only add overhead
    policy, spec, _cfg = load_policy(path)
    if not spec.is_mimic:
        raise AwrMimicError(f"{path}: the viewer shows awr_mimic/Mimic-v0 checkpoints, this one is for {spec.id}")
    space = policy.space

    def make_env(clip: str | None):
        return _unwrap_mimic(spec.make(clip=clip) if clip else spec.make())

    def act(obs, env):
        return space.to_env_action(policy.act(obs, None, deterministic=deterministic))

    return make_env, act, spec


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
        make_env, act, spec = load_checkpoint(checkpoint)
        return PhysicsSession(make_env, act, policy_name=Path(checkpoint).name, clip=clip,
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
