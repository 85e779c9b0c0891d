"""`awr-mimic eval`: deterministic evaluation of a checkpoint."""
from __future__ import annotations

import argparse
import json
import math

PUSH_DIRECTIONS = "forward,backward,left,right"  # awr_mimic.sampling.push.DIRECTIONS (imported lazily: torch)

HELP = "evaluate a checkpoint with deterministic episodes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="PATH",
                        help="checkpoint file, a run directory (uses its checkpoint.pt), or a shipped controller "
                             "by name, e.g. humanoid/walk (awr-mimic controllers)")
    parser.add_argument("--best", action="store_true", help="with a run directory: use best.pt")
    parser.add_argument("--character", help="check the policy drives this character (it must be the one it was "
                                            "trained on)")
    parser.add_argument("--clip", help="imitation policies: evaluate against another reference clip")
    parser.add_argument("--episodes", type=int, default=10, metavar="N",
                        help="episodes (default 10; 0 with --push: the push test only)")
    parser.add_argument("--workers", type=int, metavar="N", help="worker processes (default: up to cores)")
    parser.add_argument("--seed", type=int, help="evaluation seed (default: the run's seed)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--by-phase", action="store_true",
                        help="imitation policies: also print, per tenth of the clip, the steps spent there, "
                             "the reward and reward terms per step, and the falls (JSON always has them)")
    push = parser.add_argument_group("push test (imitation policies; docs/environment.md, \"Push test\")")
    push.add_argument("--push", action="store_true",
                      help="also measure the largest horizontal push on the root, held 0.2 s, that the policy "
                           "survives forward, backward, left and right of its heading")
    push.add_argument("--push-phases", default="0.1,0.4,0.7", metavar="P,P,...",
                      help="clip phases the push episodes start from; a force counts as survived only from "
                           "all of them (default 0.1,0.4,0.7)")
    push.add_argument("--push-max", type=float, default=800.0, metavar="N", help="largest force tried (default 800 N)")
    push.add_argument("--push-step", type=float, default=25.0, metavar="N",
                      help="force grid: step, 2 step, ... until one falls (default 25 N)")
    push.add_argument("--push-refine", type=int, default=2, metavar="K",
                      help="halve the interval between the last survived and the first failed grid force K "
                           "times (default 2: 6.25 N)")
    push.add_argument("--push-settle", type=float, default=2.0, metavar="S",
                      help="seconds into the episode the push starts (default 2)")
    push.add_argument("--push-episode", type=float, default=20.0, metavar="S",
                      help="episode length in seconds; no fall until then counts as survived (default 20)")
    push.add_argument("--push-duration", type=float, default=0.2, metavar="S",
                      help="seconds the force is held (default 0.2)")
    push.add_argument("--push-directions", default=PUSH_DIRECTIONS, metavar="D,D,...",
                      help="any of forward,backward,left,right (default all four)")
    push.add_argument("--save-push", action="store_true",
                      help="write the push result into the controller file's metadata (awr-mimic controllers "
                           "shows its weakest direction); the checkpoint must be a controller file")


def evaluate_checkpoint(path, episodes: int = 10, workers: int | None = None, seed: int | None = None,
                        character: str | None = None, clip: str | None = None, best: bool = False) -> dict:
    import os

    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.awr import policy_kwargs
    from awr_mimic.learning.checkpoint import check_character, check_compatible, open_policy
    from awr_mimic.learning.envspec import EnvSpec
    from awr_mimic.learning.networks import policy_weights
    from awr_mimic.sampling import LocalSampler
    from awr_mimic.sampling.rollout import eval_start_phase

    if episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {episodes}")
    ck = open_policy(path, best=best, clip=clip)
    policy, spec, cfg = ck.policy, ck.env_spec, ck.config
    check_character(ck, character)
    if clip is not None:
        if not spec.is_mimic:
            raise ConfigError(f"--clip applies to motion-imitation policies; {ck.label} is for {spec.id}")
        spec = EnvSpec(spec.id, {**spec.kwargs, "clip": clip})
    if workers is None:
        workers = min(episodes, os.cpu_count() or 1)
    seed = cfg.seed if seed is None else seed
    with LocalSampler(spec, policy_kwargs(cfg), seed=seed, workers=workers) as s:
        check_compatible(ck, s.space, spec)  # before the weights reach the workers
        s.set_weights(policy_weights(policy))
        batch = s.evaluate(episodes)
    out = {"env": str(spec), "episodes": episodes, **batch.stats()}
    del out["episodes"]
    out["episodes"] = episodes
    # which episodes ended before the time limit, and (imitating from RSI) where in the clip they started
    spread = spec.is_mimic and spec.kwargs.get("start_phase") is None
    out["ended_early"] = [
        {"episode": k, "steps": int(n), **({"start_phase": round(eval_start_phase(seed, k), 4)} if spread else {})}
        for k, (n, ended) in enumerate(zip(batch.lengths, batch.terminated)) if ended]
    if spec.is_mimic:
        out["by_phase"] = batch.phase_profile()
    return out


def push_checkpoint(path, settings=None, workers: int | None = None, character: str | None = None,
                    clip: str | None = None, best: bool = False) -> dict:
    """The push test (awr_mimic.sampling.push) of a checkpoint's policy: {"env": ..., "push": {...}}."""
    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.awr import policy_kwargs
    from awr_mimic.learning.checkpoint import check_character, check_compatible, open_policy
    from awr_mimic.learning.envspec import EnvSpec
    from awr_mimic.learning.networks import SpaceInfo, policy_weights
    from awr_mimic.sampling.push import PushSettings, push_test

    settings = settings or PushSettings()
    ck = open_policy(path, best=best, clip=clip)
    spec = ck.env_spec
    check_character(ck, character)
    if not spec.is_mimic:
        raise ConfigError(f"the push test applies to motion-imitation policies; {ck.label} is for {spec.id}")
    if clip is not None:
        spec = EnvSpec(spec.id, {**spec.kwargs, "clip": clip})
    env = spec.make()
    try:
        check_compatible(ck, SpaceInfo.from_env(env), spec)  # one line, before any worker starts
    finally:
        env.close()
    result = push_test(spec, policy_kwargs(ck.config), policy_weights(ck.policy), settings, workers)
    return {"env": str(spec), "push": result}


def push_settings(args):
    from awr_mimic.errors import ConfigError
    from awr_mimic.sampling.push import PushSettings

    def numbers(text, what):
        try:
            return tuple(float(x) for x in str(text).split(",") if x.strip())
        except ValueError:
            raise ConfigError(f"{what} takes comma-separated numbers, got {text!r}") from None

    return PushSettings(duration_s=args.push_duration, start_phases=numbers(args.push_phases, "--push-phases"),
                        settle_s=args.push_settle, episode_s=args.push_episode, max_N=args.push_max,
                        step_N=args.push_step, refine=args.push_refine,
                        directions=tuple(d.strip() for d in args.push_directions.split(",") if d.strip()))


def save_push(path, push: dict) -> str:
    """Write a push result into a controller file's metadata (`metadata["push"]`); returns the file written."""
    import time

    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.checkpoint import file_state, load_checkpoint, save_checkpoint

    state = load_checkpoint(path)
    if state["kind"] != "controller":
        raise ConfigError(f"--save-push writes a controller's metadata; {state['path']} is a {state['kind']} "
                          "checkpoint (make a controller with: awr-mimic slim RUN --controller --out FILE)")
    written = state["path"]
    new = file_state(state)  # as stored: without what loading added
    new["metadata"] = {**(new.get("metadata") or {}), "push": {**push, "measured": time.strftime("%Y-%m-%d")}}
    save_checkpoint(written, new)
    return written


def push_lines(push: dict) -> list[str]:
    """One line per direction, e.g. `push forward   survives 150 N (falls at 175 N)`."""
    lines = []
    for d in push["directions"]:
        r = push[d]
        head = f"push {d:10s}"
        if r["survived_N"] is None:
            lines.append(f"{head}falls without a push (from phase {r['failed_phase']:g})")
        elif r["failed_N"] is None:
            lines.append(f"{head}survives {r['survived_N']:g} N (every force tried, up to --push-max)")
        else:
            lines.append(f"{head}survives {r['survived_N']:g} N (falls at {r['failed_N']:g} N "
                         f"from phase {r['failed_phase']:g})")
    return lines


def run(args) -> int:
    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.checkpoint import resolve_checkpoint

    path, name = resolve_checkpoint(args.checkpoint, best=args.best)  # a controller name means the shipped file; ./NAME or *.pt for a folder
    if args.save_push and not args.push:
        raise ConfigError("--save-push saves the push test's result: add --push")
    if args.episodes == 0 and not args.push:
        raise ConfigError("--episodes must be >= 1 (0 only with --push: the push test alone)")
    settings = push_settings(args) if args.push else None  # bad push options fail before any episode
    r = {}
    if args.episodes != 0:
        r = evaluate_checkpoint(name or path, args.episodes, args.workers, args.seed, character=args.character,
                                clip=args.clip)
    if args.push:
        pushed = push_checkpoint(name or path, settings, args.workers, character=args.character, clip=args.clip)
        r = {**pushed, **r, "push": pushed["push"]}
        if args.save_push:
            save_push(path, r["push"])
    shown = f"controller {name}" if name else path
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    if args.episodes != 0:
        _print_eval(r, args.episodes, shown)
        if args.by_phase:
            _print_by_phase(r.get("by_phase"))
    if args.push:
        p = r["push"]
        print(f"{r['env']}: push test of {shown}: {p['duration_s']:g} s on the {p['link']}, {p['settle_s']:g} s "
              f"into {p['episode_s']:g} s episodes from phases {', '.join(f'{x:g}' for x in p['start_phases'])} "
              f"({p['episodes']} episodes)")
        for line in push_lines(p):
            print(f"  {line}")
        if args.save_push:
            print(f"  saved in the metadata of {path}")
    return 0


def _print_by_phase(rows) -> None:
    if not rows:
        print("  by clip phase: only for imitation policies")
        return
    terms = [k for k in rows[0] if k not in ("phase", "steps", "reward", "falls")]
    print("  by clip phase (per step where the episodes were; falls: where they ended):")
    print("    phase      steps  reward  " + "  ".join(f"{t:>12s}" for t in terms) + "  falls")
    for row in rows:
        lo, hi = row["phase"]
        print(f"    {lo:.1f}-{hi:.1f}  {row['steps']:7d}  {row['reward']:6.3f}  "
              + "  ".join(f"{row.get(t, float('nan')):12.3f}" for t in terms) + f"  {row['falls']:5d}")


def _print_eval(r: dict, episodes: int, path) -> None:
    print(f"{r['env']}: {episodes} deterministic episodes from {path}")
    print(f"  return             {r['mean_return']:.3f} ± {r['std_return']:.3f}")
    if not math.isnan(r["normalized_return"]):
        print(f"  normalised return  {r['normalized_return']:.3f}")
    print(f"  episode length     {r['mean_length']:.1f} steps (failures {r['failure_rate']:.0%})")
    if r["ended_early"]:
        where = ", ".join(f"phase {e['start_phase']:.3f} after {e['steps']}" if "start_phase" in e
                          else f"episode {e['episode']} after {e['steps']}" for e in r["ended_early"])
        print(f"  ended early        {len(r['ended_early'])} of {episodes}: from {where} steps")
    for k in ("joint_angle_error", "end_effector_error"):
        if k in r:
            print(f"  {k.replace('_', ' '):18s} {r[k]:.4f}")
    terms = {k[len('reward_'):]: v for k, v in r.items() if k.startswith("reward_")}
    if terms:
        print("  reward terms (mean per step): " + ", ".join(f"{k} {v:.3f}" for k, v in terms.items()))
