"""`awr-mimic collect`: record whole paths into a dataset (.npz) for offline AWR."""
from __future__ import annotations

import argparse

HELP = "record a dataset of paths with a checkpoint's policy or random actions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from awr_mimic.cli.train import add_env_arguments

    parser.add_argument("--checkpoint", metavar="PATH", help="policy checkpoint (file or run directory)")
    parser.add_argument("--random", action="store_true", help="uniform random actions instead of a policy")
    add_env_arguments(parser)
    parser.add_argument("--samples", type=float, required=True, metavar="N", help="at least N steps (whole paths)")
    parser.add_argument("--out", required=True, metavar="FILE", help="output .npz")
    parser.add_argument("--deterministic", action="store_true", help="policy mean actions (no exploration noise)")
    parser.add_argument("--workers", type=int, metavar="N", help="worker processes (default: cores)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args) -> int:
    from pathlib import Path

    from awr_mimic.cli.train import env_spec_from_args
    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.awr import policy_kwargs
    from awr_mimic.learning.dataset import save_dataset
    from awr_mimic.learning.networks import policy_weights
    from awr_mimic.sampling import LocalSampler

    if bool(args.checkpoint) == bool(args.random):
        raise ConfigError("give exactly one of --checkpoint PATH or --random")
    if args.samples <= 0:
        raise ConfigError(f"--samples must be positive, got {args.samples}")
    spec = env_spec_from_args(args)
    pk, weights = None, None
    if args.checkpoint:
        from awr_mimic.learning.checkpoint import load_policy

        ckpt = Path(args.checkpoint)
        policy, ckpt_spec, cfg = load_policy(ckpt / "checkpoint.pt" if ckpt.is_dir() else ckpt)
        spec = spec or ckpt_spec
        pk, weights = policy_kwargs(cfg), policy_weights(policy)
    elif spec is None:
        raise ConfigError("--random needs an env: --env GYM_ID or --character/--clip")
    if not str(args.out).endswith(".npz"):
        raise ConfigError(f"--out must end in .npz, got {args.out}")
    mode = "random" if args.random else ("eval" if args.deterministic else "policy")
    with LocalSampler(spec, pk, seed=args.seed, workers=args.workers) as s:
        if weights is not None:
            s.set_weights(weights)
        batch = s.sample(int(args.samples), mode=mode)
        space = s.space
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_dataset(args.out, batch, spec, space)
    st = batch.stats()
    print(f"wrote {args.out}: {batch.num_samples} samples in {batch.num_paths} paths from {spec} "
          f"(mean return {st['mean_return']:.3f})")
    return 0
