"""`awr-mimic bench arms ARMS.toml`: learning arms, one config change each, compared per hour.

The protocol of docs/learning.md ("Imitation defaults, measured one change at a time"): every arm
trains with the same seed for the same wall-clock budget, the arms one after another (never two at
once on a small machine), then one table compares the eval normalised return at fixed training times
and fixed sample counts. Each arm is a fresh ``python -m awr_mimic train ... --minutes M`` subprocess
(the command is printed: it is exactly what you would run by hand) into ``DIR/<name>/``.

ARMS.toml::

    minutes = 12                     # wall-clock budget per arm (--minutes overrides)
    seed = 0
    character = "humanoid"           # imitation: character and clip ...
    clip = "walk"
    # env_id = "CartPole-v1"         # ... or any gymnasium id instead
    # samples = 1e9                  # optional sample cap per arm (default: none, the budget decides)
    points_minutes = [5, 10, 11.5]   # table columns: training time (time_s), minutes
    points_samples = [100000, 200000, 300000]   # table columns: samples
    # resume = "runs/walk/checkpoint.pt"   # instead of character/clip/env_id and seed: every arm
    #                                 # continues this run (train --resume FILE --out DIR/<name>);
    #                                 # arms may then only `set` what a resume may change, no env
    [common]                         # config fields for every arm (like --set KEY=VALUE)
    buffer_size = 50000
    eval_every = 5
    eval_episodes = 8
    learner_threads = 1
    [common_env]                     # env options for every arm (like --env-option KEY=VALUE)
    action_mode = "residual"
    [[arm]]
    name = "A0_base"
    env = { action_mode = "absolute" }
    [[arm]]
    name = "A1_tar"
    env = { target_obs_steps = [1, 2, 3] }
    set = { actor_lr = 5e-4 }

An arm's ``set`` and ``env`` win over ``[common]`` and ``[common_env]``; env options go in as
``--env-option``, so they also win over what ``awr-mimic train --character`` adds by default
(``action_mode = "residual"``). Every arm's config and env options are checked before anything runs:
a bad file, an unknown config key or env option is one line (exit 2).

With ``resume``, the arms start from one checkpoint (a run at a plateau, say) and the table counts
time and samples from that checkpoint's.

Time points are minutes of the run's ``time_s`` (training time: start-up, checkpoint writes and the
final evaluation left out), so an arm with a 12-minute budget ends at about 11.5-12 minutes of
``time_s``, and a point the run did not reach shows ``-``: put the last time point a little below
the budget. Default points: a quarter, a half and 90 % of the budget; no sample points.

Resuming: an arm runs into ``DIR/<name>/`` and gets a ``done`` marker when ``awr-mimic train`` exits
0. A finished arm is skipped, so a killed ``bench arms`` resumes where it stopped; an arm without the
marker (killed half-way) is deleted and run again from scratch (a resumed run would get a different
budget). ``--table-only`` prints the table of what is there without running anything.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HELP = "run learning arms (one change each) one after another on the same wall-clock budget, then a table"

TOP_KEYS = ("minutes", "seed", "character", "clip", "env_id", "samples", "points_minutes", "points_samples",
            "common", "common_env", "arm", "resume")
ARM_KEYS = ("name", "env", "set")
DONE = "done"  # written into an arm's run dir after `awr-mimic train` exited 0
STARTED = "arm.json"  # written when an arm starts: the dir is ours to delete if it never got DONE
RUN_FILES = {"config.yaml", "progress.csv", "checkpoint.pt", "best.pt", "buffer", "tb", DONE, STARTED}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclasses.dataclass
class Arm:
    name: str
    config: dict  # [common] then the arm's `set` (config fields, --set)
    env: dict  # [common_env] then the arm's `env` (env options, --env-option)


@dataclasses.dataclass
class Arms:
    path: Path
    minutes: float
    seed: int
    character: str | None
    clip: str | None
    env_id: str | None
    samples: int | None
    points_minutes: list[float]
    points_samples: list[float]
    arms: list[Arm]
    resume: Path | None = None  # every arm continues this checkpoint
    resume_config: dict | None = None  # its config
    start: tuple[float, float] = (0.0, 0.0)  # its time_s and samples: where the arms' table counts from
    resume_is_mimic: bool = True
    resume_has_buffer: bool = True  # a slim checkpoint has none (its arms may then set buffer_size)

    @property
    def is_mimic(self) -> bool:
        return self.resume_is_mimic if self.resume is not None else self.env_id is None

    @property
    def y(self) -> str:
        """The table's column: the normalised return for imitation, the plain return for gym envs."""
        return "eval_normalized_return" if self.is_mimic else "eval_mean_return"


def add_arguments(parser):
    parser.add_argument("arms", metavar="ARMS.toml", help="the arms file (format: `awr-mimic bench arms -h`)")
    parser.add_argument("--minutes", type=float, metavar="M", help="wall-clock budget per arm (overrides the file)")
    parser.add_argument("--out", metavar="DIR", help="where the arms' run dirs go (default: runs/arms-<file name>)")
    parser.add_argument("--only", metavar="NAME,...", help="run (and tabulate) only these arms")
    parser.add_argument("--table-only", action="store_true", help="print the table of the runs there, run nothing")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the file format above as written


# -- the file -----------------------------------------------------------------
def _number(value, what: str, where: str, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (positive and not value > 0):
        raise _error(where, f"{what} must be a positive number, got {value!r}")
    return float(value)


def _table(value, what: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise _error(where, f"{what} must be a table of key = value, got {value!r}")
    return dict(value)


def _error(where: str, message: str):
    from awr_mimic.errors import ConfigError

    return ConfigError(f"{where}: {message}")


def _check_keys(data: dict, known, what: str, where: str) -> None:
    from awr_mimic.errors import unknown_name

    for key in data:
        if key not in known:
            raise _error(where, str(unknown_name(what, str(key), known)))


def load_arms(path: str | Path, minutes: float | None = None) -> Arms:
    """Read and check an arms file: every arm's config and env options, before anything runs."""
    try:
        import tomllib
    except ModuleNotFoundError:  # python < 3.11
        import tomli as tomllib

    from awr_mimic.errors import ConfigError

    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ConfigError(f"arms file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _error(where, f"not valid TOML: {str(exc).splitlines()[0]}") from None
    _check_keys(data, TOP_KEYS, "key", where)
    if minutes is None:
        if "minutes" not in data:
            raise _error(where, "say how long each arm trains: minutes = M in the file, or --minutes M")
        minutes = data["minutes"]
    minutes = _number(minutes, "minutes", where)
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _error(where, f"seed must be an integer, got {seed!r}")
    env_id = data.get("env_id")
    character, clip = data.get("character"), data.get("clip")
    resume = _resume_point(data, where)
    if resume is not None:
        pass
    elif env_id is not None:
        if character is not None or clip is not None:
            raise _error(where, "give either env_id or character/clip, not both")
        if not isinstance(env_id, str) or not env_id:
            raise _error(where, f"env_id must be a gymnasium id such as 'CartPole-v1', got {env_id!r}")
    else:
        if character is None and clip is None:
            raise _error(where, "say what to train on: character and clip (imitation) or env_id (a gymnasium id)")
        character, clip = character or "humanoid", clip or "walk"
        if not isinstance(character, str) or not isinstance(clip, str):
            raise _error(where, "character and clip must be strings")
    samples = data.get("samples")
    if samples is not None:
        samples = int(_number(samples, "samples", where))
    pm = data.get("points_minutes", [round(minutes * f, 3) for f in (0.25, 0.5, 0.9)])
    ps = data.get("points_samples", [])
    for name, pts in (("points_minutes", pm), ("points_samples", ps)):
        if not isinstance(pts, list):
            raise _error(where, f"{name} must be a list of numbers, got {pts!r}")
        for p in pts:
            _number(p, f"each of {name}", where)
    common = _table(data.get("common", {}), "[common]", where)
    common_env = _table(data.get("common_env", {}), "[common_env]", where)
    raw_arms = data.get("arm")
    if not isinstance(raw_arms, list) or not raw_arms or not all(isinstance(a, dict) for a in raw_arms):
        raise _error(where, "no arms: add [[arm]] tables, each with a name (and env = {...}, set = {...})")
    arms, names = [], set()
    for i, raw in enumerate(raw_arms):
        name = raw.get("name")
        at = f"{where}: arm {name!r}" if isinstance(name, str) else f"{where}: arm #{i + 1}"
        _check_keys(raw, ARM_KEYS, "arm key", at)
        if not isinstance(name, str) or not _NAME.match(name):
            raise _error(at, "needs name = \"...\" (letters, digits, . _ -; it names the run directory)")
        if name in names:
            raise _error(at, "the name is used twice")
        names.add(name)
        arms.append(Arm(name, {**common, **_table(raw.get("set", {}), "set", at)},
                        {**common_env, **_table(raw.get("env", {}), "env", at)}))
    plan = Arms(path, minutes, seed, character, clip, env_id, samples, [float(p) for p in pm],
                [float(p) for p in ps], arms)
    if resume is not None:
        plan.resume, plan.resume_config, plan.start, plan.resume_is_mimic, plan.resume_has_buffer = resume
    for arm in arms:
        check_arm(plan, arm)
    return plan


def _resume_point(data: dict, where: str):
    """(checkpoint path, its config, (time_s, samples), is_mimic, has_buffer) of `resume = FILE`, or None."""
    from awr_mimic.errors import AwrMimicError
    from awr_mimic.learning.checkpoint import load_checkpoint
    from awr_mimic.learning.envspec import EnvSpec

    if "resume" not in data:
        return None
    for key in ("character", "clip", "env_id", "seed", "common_env"):
        if key in data:
            raise _error(where, f"{key} comes from the checkpoint when the arms resume one; drop it")
    if not isinstance(data["resume"], str):
        raise _error(where, f"resume must be a checkpoint path or run directory, got {data['resume']!r}")
    ckpt = Path(data["resume"])
    ckpt = ckpt / "checkpoint.pt" if ckpt.is_dir() else ckpt
    try:
        state = load_checkpoint(ckpt)
    except AwrMimicError as exc:
        raise _error(where, f"resume: {exc}") from None
    if state.get("kind") == "controller":
        raise _error(where, f"resume: {ckpt} is a controller; arms resume a run checkpoint")
    c = state["counters"]
    return ckpt, dict(state["config"]), (float(c["elapsed"]), float(c["samples"])), \
        EnvSpec.from_dict(state["env_spec"]).is_mimic, state.get("buffer") is not None


def check_arm(plan: Arms, arm: Arm) -> None:
    """The arm's config as `awr-mimic train` will resolve it, and its env options; one-line errors."""
    from awr_mimic.errors import AwrMimicError
    from awr_mimic.learning.config import AWRConfig, apply_overrides, resolve, resume_changes

    at = f"{plan.path}: arm {arm.name!r}"
    if plan.resume is not None:
        if arm.env:
            raise _error(at, "a resumed run keeps its env: no env options")
        try:
            resume_changes(apply_overrides(AWRConfig(), plan.resume_config), arm.config, plan.resume_has_buffer)
        except AwrMimicError as exc:
            raise _error(at, str(exc)) from None
        return
    if "seed" in arm.config:
        raise _error(at, "seed is set once for all arms, at the top of the file")
    try:
        resolve(None, arm.config, {"seed": plan.seed}, default_preset="mimic" if plan.is_mimic else "gym")
    except AwrMimicError as exc:
        raise _error(at, str(exc)) from None
    try:
        if plan.is_mimic:
            _check_mimic_options(plan.character, plan.clip, arm.env)
        else:
            _check_gym_options(plan.env_id, arm.env)
    except AwrMimicError as exc:
        raise _error(at, str(exc)) from None


def _check_mimic_options(character: str, clip: str, env: dict) -> None:
    import inspect

    from awr_mimic.characters.clips import resolve_clip
    from awr_mimic.envs.batch import check_learning_options, check_options
    from awr_mimic.envs.mimic_env import TRAINING_OPTIONS, MimicEnv
    from awr_mimic.errors import unknown_name

    params = {k: p.default for k, p in inspect.signature(MimicEnv.__init__).parameters.items()
              if k not in ("self", "character", "clip", "render_mode", "render_size")}
    for key in env:
        if key in ("character", "clip"):
            raise unknown_name("env option (character and clip are set at the top of the file)", key, params)
        if key not in params:
            raise unknown_name("env option", key, params)
    o = {**params, **TRAINING_OPTIONS, **env}
    check_learning_options(o["action_mode"], o["target_obs_steps"], o["pose_termination"], o["pd_target_velocity"])
    check_options(o["sim_hz"], o["control_hz"], o["time_limit"], o["start_phase"])
    resolve_clip(character, clip)


def _check_gym_options(env_id: str, env: dict) -> None:
    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.envspec import EnvSpec

    try:
        EnvSpec(env_id, dict(env)).make().close()
    except TypeError as exc:  # an unknown keyword argument
        raise ConfigError(f"env {env_id!r}: {str(exc).splitlines()[0]}") from None


# -- running --------------------------------------------------------------------
def _set_value(value) -> str:
    """A TOML value as `--set` reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _env_value(value) -> str:
    """A TOML value as `--env-option` reads it (YAML): strings plain when that reads back the same."""
    import yaml

    if isinstance(value, str):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, separators=(",", ":"))


def arm_command(plan: Arms, arm: Arm, run_dir: Path) -> list[str]:
    """The `awr-mimic train` command line of one arm (as ``python -m awr_mimic``)."""
    cmd = [sys.executable, "-m", "awr_mimic", "train"]
    if plan.resume is not None:
        cmd += ["--resume", str(plan.resume), "--minutes", f"{plan.minutes:g}"]
    else:
        cmd += ["--character", plan.character, "--clip", plan.clip] if plan.is_mimic else ["--env", plan.env_id]
        cmd += ["--seed", str(plan.seed), "--minutes", f"{plan.minutes:g}"]
    if plan.samples is not None:
        cmd += ["--samples", str(plan.samples)]
    cmd += ["--out", str(run_dir), "--no-progress"]
    for k, v in arm.config.items():
        cmd += ["--set", f"{k}={_set_value(v)}"]
    for k, v in arm.env.items():
        cmd += ["--env-option", f"{k}={_env_value(v)}"]
    return cmd


def _select(plan: Arms, only: str | None) -> list[Arm]:
    from awr_mimic.errors import unknown_name

    if not only:
        return list(plan.arms)
    by_name = {a.name: a for a in plan.arms}
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    for n in wanted:
        if n not in by_name:
            raise unknown_name(f"arm in {plan.path}", n, by_name)
    return [a for a in plan.arms if a.name in wanted]


def is_finished(run_dir: Path) -> bool:
    return (run_dir / DONE).is_file() and (run_dir / "progress.csv").is_file()


def _clear_half_finished(run_dir: Path, name: str, say) -> None:
    """An arm dir without the done marker: delete it (it is restarted from scratch)."""
    from awr_mimic.errors import AwrMimicError

    entries = list(run_dir.iterdir())
    if not entries:
        return
    ours = (run_dir / STARTED).is_file() or all(e.name in RUN_FILES or e.name.startswith(".") for e in entries)
    if not ours:
        raise AwrMimicError(f"arm {name}: {run_dir} holds files that are not an arm's run; move them or use "
                            "another --out")
    say(f"arm {name}: {run_dir} holds a half-finished run (no {DONE} marker): deleting it, restarting the arm "
        "from scratch")
    shutil.rmtree(run_dir)


def run_arm(plan: Arms, arm: Arm, run_dir: Path, say=print) -> None:
    """One arm in a fresh `awr-mimic train` subprocess; the done marker when it exits 0."""
    from awr_mimic.errors import AwrMimicError

    if run_dir.exists():
        _clear_half_finished(run_dir, arm.name, say)
    cmd = arm_command(plan, arm, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / STARTED).write_text(json.dumps({"arm": arm.name, "command": cmd}, indent=1) + "\n")
    say(f"arm {arm.name}: {shlex.join(cmd)}")
    sys.stdout.flush()
    t0 = time.monotonic()
    rc = _wait(subprocess.Popen(cmd))
    wall = time.monotonic() - t0
    if rc != 0:
        raise AwrMimicError(f"arm {arm.name}: awr-mimic train exited with status {rc} after {wall / 60:.1f} min "
                            "(its output is above); run `awr-mimic bench arms` again to restart this arm")
    (run_dir / DONE).write_text(json.dumps({"arm": arm.name, "command": cmd, "wall_s": round(wall, 1),
                                            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1) + "\n")
    say(f"arm {arm.name}: finished in {wall / 60:.1f} min of wall-clock")


def _wait(proc: subprocess.Popen) -> int:
    """The arm's exit status; Ctrl-C stops it as it would stop `awr-mimic train` (then re-raised)."""
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            proc.wait(timeout=5)  # a Ctrl-C at the terminal reached the arm too
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise


def _same_command(run_dir: Path, cmd: list[str]) -> bool:
    try:
        old = json.loads((run_dir / DONE).read_text()).get("command") or []
    except (OSError, ValueError):
        return True  # a marker without the command: nothing to compare
    return old[3:] == cmd[3:]  # the python executable may differ


def table(plan: Arms, out: Path, arms: list[Arm] | None = None) -> str:
    """The markdown table of the arms' run dirs (an unfinished arm is marked, one not run is all `-`)."""
    from awr_mimic.errors import AwrMimicError
    from awr_mimic.learning.curves import points_table, read_progress, since

    runs = {}
    for arm in arms if arms is not None else plan.arms:
        d = out / arm.name
        try:
            cols = read_progress(d)
        except AwrMimicError:
            cols = None
        if cols is not None and plan.resume is not None:
            cols = since(cols, *plan.start)
        label = arm.name if cols is None or is_finished(d) else f"{arm.name} (unfinished)"
        runs[label] = cols
    samples = [int(n) if n == int(n) else n for n in plan.points_samples]
    return points_table(runs, plan.points_minutes, samples, y=plan.y)


def run_arms(plan: Arms, out: Path, only: str | None = None, table_only: bool = False, say=print) -> str:
    """Run the selected arms one after another (skipping finished ones); return the table."""
    arms = _select(plan, only)
    if not table_only:
        todo = [a for a in arms if not is_finished(out / a.name)]
        say(f"{len(arms)} arms ({len(todo)} to run) of {plan.minutes:g} min each into {out}: about "
            f"{len(todo) * plan.minutes:g} min plus start-up and final evaluations, one arm at a time")
        for i, arm in enumerate(arms, 1):
            run_dir = out / arm.name
            if is_finished(run_dir):
                note = "" if _same_command(run_dir, arm_command(plan, arm, run_dir)) else (
                    f" (its command differs from {plan.path} now; delete {run_dir} to run it again)")
                say(f"arm {arm.name} ({i}/{len(arms)}): finished before, skipped{note}")
                continue
            say(f"arm {arm.name} ({i}/{len(arms)}): {plan.minutes:g} min")
            run_arm(plan, arm, run_dir, say)
    return table(plan, out, arms)


def run(args) -> int:
    plan = load_arms(args.arms, minutes=args.minutes)
    out = Path(args.out) if args.out else Path("runs") / f"arms-{plan.path.stem}"
    text = run_arms(plan, out, only=args.only, table_only=args.table_only)
    print()
    print(text, end="")
    return 0
