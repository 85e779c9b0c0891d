"""`awr-mimic export`: a standalone HTML replay (viser scene export) that plays without a server,
or a checkpoint's policy as an ONNX model (docs/deploy.md)."""
from __future__ import annotations

from awr_mimic.cli.view import add_source_arguments, check_dependencies, check_source

HELP = ("standalone HTML replay of a checkpoint's policy or a clip (plays in a browser, no server), "
        "or the policy as an ONNX model")

FORMATS = {".html": "html", ".htm": "html", ".onnx": "onnx"}
# options that only shape an HTML replay: refused with --format onnx (None / False = not given)
HTML_ONLY = {"seconds": "--seconds", "fps": "--fps", "track": "--track", "no_ghost": "--no-ghost",
             "ghost_offset": "--ghost-offset", "random_start": "--random-start", "dark": "--dark",
             "character": "--character"}


def add_arguments(parser):
    add_source_arguments(parser)
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="output file: .html (replay) or .onnx (policy)")
    parser.add_argument("--format", choices=("html", "onnx"),
                        help="html: standalone replay; onnx: the policy, raw observation -> env action "
                             "(default: from the --out suffix)")
    parser.add_argument("--seconds", type=float, default=None, help="html: length of the replay (default 5)")
    parser.add_argument("--fps", type=float, default=None, help="html: frames per second (default 30)")
    parser.add_argument("--track", action="store_true",
                        help="without a checkpoint: simulate, PD-tracking the reference (no learned policy)")
    parser.add_argument("--no-ghost", action="store_true", help="leave the reference ghost out")
    parser.add_argument("--ghost-offset", type=float, default=None, metavar="M",
                        help="draw the ghost M metres to the side of the character")
    parser.add_argument("--random-start", action="store_true", help="start at a random phase instead of phase 0")
    parser.add_argument("--seed", type=int, default=None,
                        help="html: seed of the random start; onnx: seed of the parity episodes (default: the run's)")
    parser.add_argument("--dark", action="store_true", help="dark colour scheme")
    parser.add_argument("--parity-steps", type=int, default=256, metavar="N",
                        help="onnx: env steps whose observations check the model against torch (default 256; "
                             "64 random observations are added)")


def _format(args) -> str:
    from pathlib import Path

    from awr_mimic.errors import AwrMimicError

    if args.format:
        return args.format
    fmt = FORMATS.get(Path(args.out).suffix.lower())
    if fmt is None:
        raise AwrMimicError(f"{args.out}: use a .html file name (replay) or .onnx (policy), or say --format html|onnx")
    return fmt


def run(args) -> int:
    return run_onnx(args) if _format(args) == "onnx" else run_html(args)


def run_html(args) -> int:
    check_source(args)
    check_dependencies("viser", *(["torch"] if args.checkpoint else []))
    from awr_mimic.errors import AwrMimicError
    from pathlib import Path

    if Path(args.out).suffix.lower() not in (".html", ".htm"):
        raise AwrMimicError(f"{args.out}: the replay is an HTML page: use a .html file name")
    from awr_mimic_viewer.export import export_html
    from awr_mimic_viewer.policy import make_session

    seconds = 5.0 if args.seconds is None else args.seconds
    fps = 30.0 if args.fps is None else args.fps
    ghost_offset = 0.0 if args.ghost_offset is None else args.ghost_offset
    session = make_session(checkpoint=args.checkpoint, character=args.character, clip=args.clip,
                           track=args.track, random_start=args.random_start, seed=args.seed)
    try:
        info = export_html(session, args.out, seconds=seconds, fps=fps, ghost=not args.no_ghost,
                           ghost_offset=ghost_offset, dark_mode=args.dark)
    finally:
        session.close()
    print(f"wrote {args.out}: {info['frames']} frames, {info['bytes'] / 1e6:.1f} MB, in {info['seconds']:.1f} s "
          f"(open it in a browser; no server needed)")
    return 0


RANDOM_OBSERVATIONS = 64


def run_onnx(args) -> int:
    from pathlib import Path

    from awr_mimic.errors import AwrMimicError

    if not args.checkpoint:
        raise AwrMimicError("--format onnx exports a checkpoint's policy: pass --checkpoint")
    given = [flag for key, flag in HTML_ONLY.items() if getattr(args, key) not in (None, False)]
    if given:
        one = len(given) == 1
        raise AwrMimicError(f"{', '.join(given)} only {'shapes' if one else 'shape'} an HTML replay; "
                            f"drop {'it' if one else 'them'} with --format onnx")
    if Path(args.out).suffix.lower() != ".onnx":
        raise AwrMimicError(f"{args.out}: the policy is an ONNX model: use a .onnx file name")
    if args.parity_steps < 0:
        raise AwrMimicError(f"--parity-steps must be >= 0, got {args.parity_steps}")
    check_dependencies("torch")
    from awr_mimic.learning.onnx_export import require_onnx

    require_onnx()  # before loading anything: one line if onnx/onnxruntime are missing

    import json

    import numpy as np
    import torch

    import awr_mimic
    from awr_mimic.learning.checkpoint import open_policy
    from awr_mimic.learning.onnx_export import export_onnx, random_observations

    torch.set_num_threads(1)  # one small forward per step
    ck = open_policy(args.checkpoint, clip=args.clip)  # --clip: the parity episodes' clip (the model is clip-free)
    policy, spec, cfg = ck.policy, ck.env_spec, ck.config
    seed = cfg.seed if args.seed is None else args.seed
    obs = env_observations(policy, spec, args.parity_steps, seed)
    rand = random_observations(policy, RANDOM_OBSERVATIONS, np.random.default_rng([seed, 1]))
    stored = spec.stored()  # the clip by name, as the checkpoint names it
    meta = {"env": str(stored), "env_id": stored.id, "env_kwargs": json.dumps(stored.kwargs, default=str),
            "checkpoint": str(args.checkpoint), "awr_mimic_version": awr_mimic.__version__}
    info = export_onnx(policy, args.out, np.concatenate([obs, rand]), metadata=meta)
    size = f"{info['bytes'] / 1e6:.1f} MB" if info["bytes"] >= 1e5 else f"{info['bytes'] / 1e3:.1f} kB"
    act = f"{info['act_dim']} actions" if info["discrete"] else str(info["act_dim"])
    print(f"wrote {args.out} ({info['obs_dim']} -> {act}, {size}); max |onnx - torch| = {info['max_abs_diff']:.2g} "
          f"over {info['observations']} observations ({len(obs)} env steps, {len(rand)} random)")
    return 0


def env_observations(policy, spec, steps: int, seed: int):
    """Observations the policy meets: `steps` deterministic steps in the checkpoint's env (resets included)."""
    import numpy as np

    out = []
    if steps == 0:
        return np.zeros((0, policy.space.obs_dim), np.float32)
    env = spec.make()
    try:
        obs, _ = env.reset(seed=seed)
        while len(out) < steps:
            out.append(np.asarray(obs, np.float32))
            action = policy.space.to_env_action(policy.act(obs, None, deterministic=True))
            obs, _r, terminated, truncated, _info = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()
    finally:
        env.close()
    return np.stack(out)
