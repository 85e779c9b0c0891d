"""`awr-mimic eval`: deterministic evaluation of a checkpoint."""
from __future__ import annotations

import argparse
import json
import math

HELP = "evaluate a checkpoint with deterministic episodes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="PATH",
                        help="checkpoint file, a run directory (uses its checkpoint.pt), or a shipped controller "
                             "by name, e.g. humanoid/walk (awr-mimic controllers)")
    parser.add_argument("--best", action="store_true", help="with a run directory: use best.pt")
    parser.add_argument("--character", help="check the policy drives this character (it must be the one it was "
                                            "trained on)")
    parser.add_argument("--clip", help="imitation policies: evaluate against another reference clip")
    parser.add_argument("--episodes", type=int, default=10, metavar="N", help="episodes (default 10)")
    parser.add_argument("--workers", type=int, metavar="N", help="worker processes (default: up to cores)")
    parser.add_argument("--seed", type=int, help="evaluation seed (default: the run's seed)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


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
    ck = open_policy(path, best=best)
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
    return out


def run(args) -> int:
    from awr_mimic.learning.checkpoint import resolve_checkpoint

    path, name = resolve_checkpoint(args.checkpoint, best=args.best)  # a path on disk wins over a controller name
    r = evaluate_checkpoint(name or path, args.episodes, args.workers, args.seed, character=args.character, clip=args.clip)
    if name:
        path = f"controller {name}"
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{r['env']}: {args.episodes} deterministic episodes from {path}")
    print(f"  return             {r['mean_return']:.3f} ± {r['std_return']:.3f}")
    if not math.isnan(r["normalized_return"]):
        print(f"  normalised return  {r['normalized_return']:.3f}")
    print(f"  episode length     {r['mean_length']:.1f} steps (failures {r['failure_rate']:.0%})")
    if r["ended_early"]:
        where = ", ".join(f"phase {e['start_phase']:.3f} after {e['steps']}" if "start_phase" in e
                          else f"episode {e['episode']} after {e['steps']}" for e in r["ended_early"])
        print(f"  ended early        {len(r['ended_early'])} of {args.episodes}: from {where} steps")
    for k in ("joint_angle_error", "end_effector_error"):
        if k in r:
            print(f"  {k.replace('_', ' '):18s} {r[k]:.4f}")
    terms = {k[len('reward_'):]: v for k, v in r.items() if k.startswith("reward_")}
    if terms:
        print("  reward terms (mean per step): " + ", ".join(f"{k} {v:.3f}" for k, v in terms.items()))
    return 0
