"""`awr-mimic slim`: a run's checkpoint without its replay buffer, or a policy-only controller file."""
from __future__ import annotations

HELP = "write a slim checkpoint of a run (no replay buffer; resumable) or, with --controller, a policy-only controller"


def add_arguments(parser):
    parser.add_argument("run", metavar="RUN", help="run directory (its checkpoint.pt) or a checkpoint file")
    parser.add_argument("--out", required=True, metavar="FILE", help="file to write (.pt)")
    parser.add_argument("--best", action="store_true", help="with a run directory: use best.pt")
    parser.add_argument("--controller", action="store_true",
                        help="policy only (actor, normaliser, env spec, config): what ships in "
                             "assets/controllers/<character>/<clip>.pt")
    parser.add_argument("--eval", type=int, default=0, metavar="N",
                        help="with --controller: measure N deterministic episodes for the metadata "
                             "(default: the run's last evaluation)")
    parser.add_argument("--workers", type=int, metavar="N", help="with --eval: worker processes")
    parser.add_argument("--clip", metavar="PATH|NAME",
                        help="imitation: your copy of the run's clip file (for --eval, and to record its name and "
                             "sha256; needed for a checkpoint that stored the clip as a path)")
    parser.add_argument("--clip-name", metavar="NAME",
                        help="imitation: the name the clip is stored under (default: the clip file's stem without "
                             "DeepMimic's <character>3d_ prefix, dog3d_trot.txt -> trot); users put their copy at "
                             "motions/<character>/NAME.txt")


def run(args) -> int:
    from pathlib import Path

    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.checkpoint import load_checkpoint, write_slim

    if args.eval < 0:
        raise ConfigError(f"--eval must be >= 0, got {args.eval}")
    if args.eval and not args.controller:
        raise ConfigError("--eval measures a controller's metadata: add --controller")
    out = write_slim(args.run, args.out, controller=args.controller, best=args.best, clip=args.clip,
                     clip_name=args.clip_name)
    if args.eval:  # measured on the file just written: the policy and env a user of it gets
        from awr_mimic.cli.evaluate import evaluate_checkpoint
        from awr_mimic.learning.checkpoint import METADATA_KEYS, file_state, save_checkpoint

        r = evaluate_checkpoint(out, args.eval, args.workers, clip=args.clip)
        written = load_checkpoint(out)
        meta = {k: r[k] for k in METADATA_KEYS if k in r}
        meta["eval_episodes"] = args.eval
        new = file_state(written)
        new["metadata"] = {**(new.get("metadata") or {}), **meta}
        save_checkpoint(out, new)
    state = load_checkpoint(out)  # proves it reads back with weights_only, and passes the checks
    size = Path(out).stat().st_size / 1e6
    c = state.get("counters") or {}
    if args.controller:
        m = state.get("metadata") or {}
        ret = m.get("normalized_return")
        shown = f", normalised return {ret:.3f}" if isinstance(ret, float) and ret == ret else ", not evaluated"
        origin = (state.get("env_spec") or {}).get("clip_origin")
        clip = f", clip {origin['name']!r} from {origin.get('file')}" if origin else ""
        print(f"wrote {out} ({size:.1f} MB, controller: {c.get('samples', 0)} samples{shown}{clip}); ship it as "
              f"assets/controllers/<character>/<clip>.pt to load it by name")
    else:
        print(f"wrote {out} ({size:.1f} MB, slim: iteration {c.get('iteration')}, {c.get('samples')} samples, "
              f"no replay buffer); continue it with: awr-mimic train --resume {out} --out DIR")
    return 0
