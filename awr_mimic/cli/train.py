"""`awr-mimic train`: learn a policy with AWR (imitation env or any gymnasium env)."""
from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

HELP = "train a policy with AWR on a character/clip or a gymnasium env"

_EXPLICIT = {"seed", "workers", "device", "preset", "overlap", "backend"}  # fields with their own flag below


def add_env_arguments(parser: argparse.ArgumentParser) -> None:
    from awr_mimic.envs.mimic_env import TRAINING_OPTIONS

    g = parser.add_argument_group("environment")
    g.add_argument("--character", help="character name (imitation env), e.g. humanoid")
    g.add_argument("--clip", help="motion clip name (imitation env), e.g. walk, spinkick")
    g.add_argument("--env", metavar="GYM_ID", help="any gymnasium id instead, e.g. CartPole-v1")
    g.add_argument("--env-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra env keyword argument, repeatable (e.g. sim_hz=240)")
    g.add_argument("--deepmimic-env", dest="training_defaults", action="store_false",
                   help="imitation: the env with DeepMimic's own defaults (absolute PD-target actions, zero PD target "
                        "velocities) "
                        "instead of the training defaults " + ", ".join(f"{k}={v}" for k, v in TRAINING_OPTIONS.items()))


def import_env_module(env_id: str) -> None:
    """Import the module of a ``module:Id`` env the user typed (their choice), so checkpoints and
    datasets of that env load: they never import code themselves (awr_mimic.learning.untrusted)."""
    if ":" not in env_id:
        return
    import importlib

    from awr_mimic.errors import ConfigError

    module = env_id.split(":", 1)[0]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"--env {env_id}: cannot import {module}: {exc}") from None


def env_spec_from_args(args):
    """EnvSpec from --character/--clip or --env, plus --env-option pass-through."""
    import yaml

    import awr_mimic
    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.envspec import EnvSpec

    kwargs = {}
    for item in args.env_option or []:
        if "=" not in item:
            raise ConfigError(f"--env-option expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            kwargs[k.strip()] = yaml.safe_load(v)  # numbers and booleans keep their types
        except yaml.YAMLError:
            kwargs[k.strip()] = v
    if args.env:
        if args.character or args.clip:
            raise ConfigError("give either --env or --character/--clip, not both")
        import_env_module(args.env)
        return EnvSpec(args.env, kwargs)
    if not args.character and not args.clip:
        return None
    from awr_mimic.envs.mimic_env import TRAINING_OPTIONS

    options = {**TRAINING_OPTIONS, **kwargs} if getattr(args, "training_defaults", True) else kwargs
    return EnvSpec(awr_mimic.ENV_ID, {"character": args.character or "humanoid", "clip": args.clip or "walk",
                                      **options})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from awr_mimic.learning.config import ALIASES, FIELDS, PRESETS

    add_env_arguments(parser)
    g = parser.add_argument_group("run")
    g.add_argument("--samples", type=float, metavar="N",
                   help="total environment samples (default: 50M for imitation, 1M otherwise; "
                        "unbounded with --minutes)")
    g.add_argument("--minutes", type=float, metavar="M",
                   help="stop after M minutes of wall-clock training in this invocation (a resumed run gets a "
                        "fresh budget); checkpoint and final eval as usual, the last iteration may overrun")
    g.add_argument("--out", metavar="DIR", help="run directory (default: runs/<env>-s<seed>)")
    g.add_argument("--resume", metavar="DIR|FILE",
                   help="continue the run in DIR exactly where its checkpoint left it, or from a checkpoint FILE "
                        "(slim, best.pt) in --out DIR")
    g.add_argument("--config", metavar="FILE", help="TOML or YAML file of config fields")
    g.add_argument("--preset", choices=sorted(PRESETS), help="hyperparameter preset (default: by env)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")
    g.add_argument("--workers", type=int, help="sampler worker processes (default: cores; 0 = in-process)")
    g.add_argument("--backend", choices=["local", "ray"],
                   help="sampler backend: local worker processes (default) or Ray actors (pip install "
                        "'awr-mimic[ray]'; docs/distributed.md)")
    g.add_argument("--address", metavar="auto|HOST:PORT",
                   help="ray backend: the Ray cluster to join (default: start Ray on this machine)")
    g.add_argument("--device", choices=["cpu", "cuda", "auto"], help="learner device (default cpu)")
    g.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=None,
                   help="collect the next batch while learning")
    g.add_argument("--dataset", metavar="FILE", help="dataset of paths (from `awr-mimic collect`)")
    g.add_argument("--offline", action="store_true", help="learn from --dataset only, no env interaction")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config field, repeatable (e.g. --set beta=0.5 --set hidden=256,256)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    c = parser.add_argument_group("config fields (same as --set KEY=VALUE)")
    c.add_argument("--hidden", dest="cfg_hidden", metavar="W,W", help="hidden layer widths of both nets")
    for name in [*ALIASES, *FIELDS]:
        if name not in _EXPLICIT and name != "hidden":
            c.add_argument(f"--{name.replace('_', '-')}", dest=f"cfg_{name}", metavar="V", help=argparse.SUPPRESS)
    parser.epilog = ("Every config field also has a flag, e.g. --actor-lr 1e-4 --samples-per-iter 4096; "
                     "see docs/learning.md for the list.")


def _overrides(args) -> dict:
    from awr_mimic.learning.config import ALIASES, FIELDS, load_file, parse_set

    out = load_file(args.config) if args.config else {}
    out.update(parse_set(args.set))
    for name in [*ALIASES, *FIELDS]:
        v = getattr(args, f"cfg_{name}", None)
        if v is not None:
            out[name] = v
    for name in ("seed", "workers", "device", "overlap", "backend"):
        v = getattr(args, name, None)
        if v is not None:
            out[name] = v
    if getattr(args, "address", None) is not None:
        out["ray_address"] = args.address
    return out


def _evaluate_often_enough(trainer, total: int, evals: int = 6) -> None:
    """A short run (the README's first command) evaluates about `evals` times, so the return is
    seen rising; long runs keep the preset's interval."""
    from awr_mimic.learning import config as config_mod

    cfg = trainer.cfg
    iterations = math.ceil(total / cfg.samples_per_iter)
    if cfg.eval_every and iterations < evals * cfg.eval_every:
        trainer.cfg = cfg.replace(eval_every=max(1, iterations // evals))
        if trainer.run_dir is not None:
            config_mod.save(trainer.cfg, trainer.run_dir / "config.yaml")


def _total(args, trainer) -> int:
    from awr_mimic.errors import ConfigError

    if args.samples is None:
        return 50_000_000 if trainer.cfg.preset == "mimic" else 1_000_000
    if not math.isfinite(args.samples) or args.samples <= 0:
        raise ConfigError(f"--samples must be a positive number, got {args.samples}")
    return int(args.samples)


def _print_result(result: dict) -> None:
    print(f"eval over {result['episodes']} deterministic episodes: mean return {result['mean_reward']:.3f} "
          f"± {result['std_reward']:.3f}, length {result['mean_length']:.1f}", end="")
    if not math.isnan(result.get("normalized_return", math.nan)):
        print(f", normalised return {result['normalized_return']:.3f}", end="")
    print()


# -- what a newcomer sees: one line per eval while training, then what to run next ---------------
def _clock(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _num(row: dict, key: str, spec: str) -> str:
    v = row.get(key)
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def eval_line(row: dict) -> str | None:
    """One compact line for an iteration with a periodic eval (None for the others).

    Imitation runs show the normalised return (0 to 1) of the training episodes and of the
    deterministic eval; other envs their plain return.
    """
    if "eval_mean_return" not in row:
        return None
    n_eval = row.get("eval_normalized_return", math.nan)
    if n_eval is not None and not math.isnan(n_eval):
        ret = f"normalised return {_num(row, 'normalized_return', '.3f')} train / {n_eval:.3f} eval"
    else:
        ret = f"return {_num(row, 'mean_return', '.4g')} train / {_num(row, 'eval_mean_return', '.4g')} eval"
    length = f"episode length {_num(row, 'mean_length', '.0f')} train / {_num(row, 'eval_mean_length', '.0f')} eval"
    return f"iter {row['iteration']:>4}  {row['samples']:>10,} samples  {_clock(row['time_s']):>7}  {ret}, {length}"


def _report_evals(trainer) -> None:
    """Print `eval_line` after each iteration with an eval, above the progress bar if there is one."""
    if trainer.progress:
        from tqdm import tqdm

        write = tqdm.write
    else:
        def write(line):
            print(line, flush=True)

    iterate = trainer._iterate

    def iterate_and_report():
        row = iterate()
        line = eval_line(row)
        if line is not None:
            write(line)
        return row

    trainer._iterate = iterate_and_report


def shipped_controller(character: str, clip: str) -> Path | None:
    """The trained controller shipped for `character`/`clip` (``assets/controllers/<character>/<clip>.pt``),
    or None when this install has none."""
    from awr_mimic import paths

    if not character or not clip or any(c in f"{character}{clip}" for c in "/\\") or clip.startswith("."):
        return None  # a clip given as a file path has no shipped controller
    dirs = getattr(paths, "controllers_dirs", None)
    for d in (dirs() if dirs else [paths.assets_dir() / "controllers"]):
        f = Path(d) / character / f"{clip}.pt"
        if f.is_file():
            return f
    return None


def _measured(controller: Path) -> str:
    """` (normalised return 0.41, 12M samples)` from a shipped controller's metadata, or ''."""
    from awr_mimic.errors import AwrMimicError
    from awr_mimic.learning.checkpoint import read_metadata

    try:
        meta = read_metadata(controller)
    except AwrMimicError:
        return ""
    parts = []
    if isinstance(meta.get("normalized_return"), (int, float)):
        parts.append(f"normalised return {meta['normalized_return']:.2f}")
    if isinstance(meta.get("samples"), (int, float)) and meta["samples"]:
        parts.append(f"{meta['samples'] / 1e6:.1f}M samples")
    return f" ({', '.join(parts)})" if parts else ""


def next_steps(trainer, total: int | None, minutes: float | None = None) -> str:
    """What to run after `awr-mimic train`: the run's files and the commands to look at it.

    total: the sample total of this invocation (None: unbounded, with a `minutes` budget)."""
    import shlex

    run = trainer.run_dir
    q = shlex.quote
    notes = {"progress.csv": "learning curve data", "checkpoint.pt": "latest", "best.pt": "best eval"}
    files = ", ".join(f"{name} ({what})" for name, what in notes.items() if (run / name).exists())
    spec = trainer.env_spec
    mimic = spec is not None and spec.is_mimic
    lines = [f"run dir {run}: {files}", "next:"]
    if mimic:
        lines += [f"  watch it in the browser:  awr-mimic view --checkpoint {q(str(run))}",
                  f"  render a video:           awr-mimic render --checkpoint {q(str(run))} "
                  f"--out {q(str(run / 'policy.mp4'))}"]
    else:
        lines += [f"  evaluate it:              awr-mimic eval --checkpoint {q(str(run))}"]
    y = "" if mimic else " --y eval_mean_return,mean_return"  # plot's default is the normalised return
    more = [f"--minutes {minutes:g}"] if minutes is not None else []
    more += [f"--samples {2 * total}"] if total is not None else []
    lines += [f"  plot the learning curve:  awr-mimic plot {q(str(run))} --out {q(str(run / 'curve.svg'))}{y}",
              "  train on:                 " + " ".join([f"awr-mimic train --resume {q(str(run))}", *more])]
    if mimic:
        character, clip = spec.kwargs.get("character"), spec.kwargs.get("clip")
        shipped = shipped_controller(str(character), str(clip))
        if shipped is not None:
            lines.append(f"  a longer-trained {clip}{_measured(shipped)}:  "
                         f"awr-mimic view --checkpoint {character}/{clip}")
    return "\n".join(lines)


def run(args) -> int:
    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.trainer import Trainer

    minutes = getattr(args, "minutes", None)
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ConfigError(f"--minutes must be a positive number, got {minutes:g}")
    if args.resume:
        extra = _overrides(args)
        for key in ("workers", "ray_address", "backend", "device"):  # where and how to run: ours, not the file's
            extra.pop(key, None)
        if args.config or args.character or args.preset or args.env_option or not args.training_defaults:
            raise ConfigError("--resume continues a run as it was configured; only --samples, --minutes, "
                              "--workers, --backend, --address, --device, --out, --clip (your copy of the run's "
                              "clip), --dataset, --env (to import its module) and --set of step sizes, update "
                              "counts and exploration apply")
        if args.env:
            import_env_module(args.env)  # the user names the module a custom env id imports
        trainer = Trainer.resume(args.resume, out=args.out, workers=args.workers, progress=not args.no_progress,
                                 ray_address=args.address, changes=extra, backend=args.backend, device=args.device,
                                 clip=args.clip, dataset=args.dataset)
        if args.env and args.env != trainer.env_spec.id:
            trainer.close()
            raise ConfigError(f"--env {args.env}: the run trains {trainer.env_spec.id}; a resumed run keeps its env")
    else:
        spec = env_spec_from_args(args)
        if spec is None and not args.dataset:
            raise ConfigError("say what to train on: --character/--clip, --env GYM_ID or --dataset FILE")
        if args.offline and not args.dataset:
            raise ConfigError("--offline needs --dataset FILE")
        overrides = _overrides(args)
        seed = int(overrides.get("seed", 0))
        out = Path(args.out) if args.out else Path("runs") / f"{_slug(spec) if spec else Path(args.dataset).stem}-s{seed}"
        if (out / "checkpoint.pt").exists():
            raise ConfigError(f"{out} already holds a run; use --resume {out} or another --out")
        trainer = Trainer("awr", spec, config=overrides, preset=args.preset, dataset=args.dataset,
                          offline=args.offline or None, run_dir=out, progress=not args.no_progress)
        if "eval_every" not in overrides and args.samples is not None:
            _evaluate_often_enough(trainer, _total(args, trainer))
    with trainer:
        total = None if minutes is not None and args.samples is None else _total(args, trainer)  # None: unbounded
        ray = " (ray)" if trainer.cfg.backend == "ray" else ""
        budget = f" for {minutes:g} min" if minutes is not None else ""
        print(f"run dir {trainer.run_dir}  env {trainer.env_spec}  preset {trainer.cfg.preset}  "
              f"workers {trainer.cfg.resolved_workers()}{ray}  samples {trainer.samples}/{total or 'unbounded'}"
              f"{budget}")
        _report_evals(trainer)
        result = trainer.train(total_timesteps=total, max_seconds=None if minutes is None else 60.0 * minutes)
    if result.get("stopped_by") == "time":
        print(f"stopped after the {minutes:g}-minute budget at {trainer.samples:,} samples")
    _print_result(result)
    print(next_steps(trainer, total, minutes))
    return 0


def _slug(spec) -> str:
    if spec.is_mimic:
        return f"{spec.kwargs.get('character')}-{spec.kwargs.get('clip')}"
    return spec.id.replace("/", "_").replace(":", "_")
