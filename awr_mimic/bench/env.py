"""`awr-mimic bench env`: environment speed against the raw physics limit, and reference tracking.

Speed: env control steps/s with random actions (reset on termination) against
the raw physics limit for the same character, sim rate and substeps: stable PD
+ stepSimulation only, replaying the env run's episodes (start states, PD targets
and resets), so that its physics is the env run's, number for number.
Rounds alternate between the two and the medians are reported. Times are
this process's CPU time (one core), so other load on the machine inflates
neither side; each round's env/raw ratio is taken and the median reported.

Tracking: PD targets = the reference pose at t + 1/control_hz, from RSI; mean
reward over the first 10 control steps (5 seeds) and the survival time (until
early termination or the time limit), for each sim rate.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from awr_mimic.anim import quat

HELP = "environment steps/s vs the raw physics limit, and reference tracking per sim rate"


def add_arguments(parser):
    parser.add_argument("--character", default="humanoid")
    parser.add_argument("--clip", default="spinkick")
    parser.add_argument("--sim-hz", type=int, default=None, help="sim rate of the speed test (default: the env's)")
    parser.add_argument("--steps", type=int, default=400, help="control steps per speed round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--tracking-rates", default="120,240,480", help="sim rates of the tracking table")
    parser.add_argument("--tracking-clips", default=None, help="clips of the tracking table (default: --clip)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--num-envs", type=int, default=8,
                        help="envs stepped together in one process for the batched figure (samplers do this)")
    parser.add_argument("--skip-tracking", action="store_true")
    parser.add_argument("--pd-target-velocity", choices=("zero", "reference"), default="zero",
                        help="the tracking table's PD target velocities (the env option of that name)")
    parser.add_argument("--segments", action="store_true",
                        help="also split one env's step into its parts (CPU time per control step)")
    parser.add_argument("--solver-iterations", type=int, default=None,
                        help="measure with this many constraint solver iterations (the env uses "
                             "awr_mimic.envs.world.SOLVER_ITERATIONS); for comparisons, not a setting")


def _make(character, clip, **options):
    from awr_mimic.envs.mimic_env import MimicEnv

    return MimicEnv(character=character, clip=clip, **options)


def _start_state(batch, row: int = 0) -> tuple:
    """The state a reset just put env `row` in (the reference's), as World.set_state takes it."""
    ref = batch.ref
    return tuple(np.array(x[row]) for x in (ref.root_pos, ref.root_quat, ref.root_vel, ref.root_ang_vel,
                                            ref.joint_quats, ref.joint_angles, ref.joint_ang_vels,
                                            ref.joint_angle_vels))


def env_round(env, steps, rng, actions_out, starts_out=None):
    """Random actions, reset on termination; returns (seconds, episode lengths). The actions and
    the start state of each episode go to actions_out and starts_out (outside the timed part)."""
    lengths, n = [], 0
    env.reset(seed=int(rng.integers(1 << 31)))
    starts = [_start_state(env.batch)]
    low, high = env.action_space.low, env.action_space.high
    actions = rng.uniform(low, high, size=(steps, len(low))).astype(np.float32)
    actions_out.append(actions)
    elapsed = 0.0
    start = time.process_time()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        n += 1
        if terminated or truncated:
            lengths.append(n)
            n = 0
            env.reset()
            elapsed += time.process_time() - start
            starts.append(_start_state(env.batch))
            start = time.process_time()
    elapsed += time.process_time() - start
    lengths.append(n)
    if starts_out is not None:
        starts_out.append(starts)
    return elapsed, lengths


def raw_round(env, lengths, actions, starts):
    """The same episodes with stable PD + stepSimulation only: the env's start states, PD targets
    and resets, so the physics is the env's, number for number."""
    world = env.world
    # targets prepared outside the timed loop: the limit is physics alone
    targets = [tuple(x[0] for x in env.batch.pd_targets(a[None], np.zeros(1, np.int64))) for a in actions]
    substeps = env.substeps
    i = 0
    start = time.process_time()
    for state, length in zip(starts, lengths):
        world.set_state(*state)
        for _ in range(length):
            world.set_pd_targets(*targets[i])
            world.step_physics(substeps)
            i += 1
    return time.process_time() - start


def speed(character, clip, sim_hz, steps, rounds, seed=0):
    options = {} if sim_hz is None else {"sim_hz": sim_hz}
    env = _make(character, clip, **options)
    rng = np.random.default_rng(seed)
    env_rates, raw_rates = [], []
    try:
        env_round(env, 200, rng, [])  # warm-up
        for _ in range(rounds):
            acts, starts = [], []
            seconds, lengths = env_round(env, steps, rng, acts, starts)
            env_rates.append(steps / seconds)
            raw_rates.append(steps / raw_round(env, lengths, acts[0], starts[0]))
        sim_hz = env.sim_hz
        substeps = env.substeps
    finally:
        env.close()
    env_med, raw_med = statistics.median(env_rates), statistics.median(raw_rates)
    # each round's env and raw runs are adjacent, so their ratio cancels most machine noise
    ratios = [e / r for e, r in zip(env_rates, raw_rates)]
    return {
        "sim_hz": sim_hz,
        "substeps": substeps,
        "env_steps_per_s": env_med,
        "raw_steps_per_s": raw_med,
        "raw_physics_steps_per_s": raw_med * substeps,
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "env_rounds": env_rates,
        "raw_rounds": raw_rates,
    }


def batch_speed(character, clip, sim_hz, num_envs, steps, rounds, seed=0):
    """Like `speed`, for `num_envs` envs stepped together by a MimicBatch on one core."""
    from awr_mimic.envs.batch import MimicBatch

    options = {} if sim_hz is None else {"sim_hz": sim_hz}
    batch = MimicBatch(num_envs, character=character, clip=clip, **options)
    rng = np.random.default_rng(seed)
    low, high = batch.action_low, batch.action_high
    worlds = batch.worlds
    env_rates, raw_rates = [], []

    def env_round(n):
        batch.reset(np.arange(num_envs), rng.uniform(size=num_envs))
        starts = [[_start_state(batch, i)] for i in range(num_envs)]  # per env, in order
        actions = rng.uniform(low, high, size=(n, num_envs, len(low)))
        done = np.zeros((n, num_envs), dtype=bool)
        elapsed = 0.0
        start = time.process_time()
        for t in range(n):
            _, _, terminated, truncated, _ = batch.step(actions[t])
            ended = np.flatnonzero(terminated | truncated)
            done[t, ended] = True
            if len(ended):
                batch.reset(ended, rng.uniform(size=len(ended)))
                elapsed += time.process_time() - start
                for row, i in enumerate(ended.tolist()):
                    starts[i].append(_start_state(batch, row))
                start = time.process_time()
        return elapsed + time.process_time() - start, actions, done, starts

    def raw_round(actions, done, starts):
        """The same episodes with physics only: each env's start states, PD targets and resets."""
        n, all_envs = len(actions), np.arange(num_envs)
        targets = [[(q, a) for q, a in zip(*batch.pd_targets(row, all_envs))] for row in actions]
        substeps, used = batch.substeps, [0] * num_envs
        start = time.process_time()
        for t in range(n):
            for i, world in enumerate(worlds):
                if t == 0 or done[t - 1, i]:
                    world.set_state(*starts[i][used[i]])
                    used[i] += 1
                world.set_pd_targets(*targets[t][i])
                world.step_physics(substeps)
        return time.process_time() - start

    try:
        env_round(20)  # warm-up
        per_round = max(1, steps // num_envs)
        for _ in range(rounds):
            seconds, actions, done, starts = env_round(per_round)
            env_rates.append(per_round * num_envs / seconds)
            raw_rates.append(per_round * num_envs / raw_round(actions, done, starts))
    finally:
        batch.close()
    ratios = [e / r for e, r in zip(env_rates, raw_rates)]
    return {"num_envs": num_envs, "env_steps_per_s": statistics.median(env_rates),
            "raw_steps_per_s": statistics.median(raw_rates), "ratio": statistics.median(ratios), "ratios": ratios}


# the parts of a MimicEnv step timed by `segments`: (label, owner attribute path, name)
SEGMENTS = (
    ("physics (stable PD + stepSimulation)", "world", "step_physics"),
    ("state read: pybullet queries", "world", "state_values"),
    ("state read: the rest", "batch", "_read"),
    ("PD targets from the action", "batch", "_targets"),
    ("links in the heading frame", "module", "heading_frame"),
    ("reward (from the rows)", "reward", "from_rows"),
    ("observation", "batch", "_observe"),
    ("ground contacts", "world", "ground_contact_links"),
    ("reference rows (cache reads)", "batch", "_cached"),
    ("reference rows (refills)", "batch", "_refill"),
    ("resets (whole, per control step)", "env", "reset"),
)


def segments(character, clip, sim_hz, steps, seed=0) -> dict:
    """Thread CPU time per control step of each part of a MimicEnv step (random actions, reset on
    termination, as `speed`), in microseconds. Each part is timed by wrapping the method on this
    env's instances (two clock reads per call, counted in the part). A reset is timed whole, and the
    parts it calls are not counted again; "state read: the rest" excludes the pybullet queries; "other"
    is what is left of the steps (MimicEnv.step and MimicBatch.step's own lines)."""
    import awr_mimic.envs.batch as batch_module

    options = {} if sim_hz is None else {"sim_hz": sim_hz}
    env = _make(character, clip, **options)
    owners = {"world": env.world, "batch": env.batch, "reward": env.batch.reward_fn, "env": env,
              "module": batch_module}
    clock, spent, in_reset = time.thread_time_ns, {}, [False]
    restore = []

    def timed(label, fn, is_reset):
        def wrapper(*args, **kwargs):
            if in_reset[0]:  # inside a reset: counted in the reset
                return fn(*args, **kwargs)
            in_reset[0] = is_reset
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0) + clock() - start
                in_reset[0] = False
        return wrapper

    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    try:
        for label, owner, name in SEGMENTS:
            obj = owners[owner]
            had = owner == "module" or name in vars(obj)
            restore.append((obj, name, getattr(obj, name) if had else None))
            setattr(obj, name, timed(label, getattr(obj, name), owner == "env"))
        env.reset(seed=seed)
        for _ in range(2):  # a warm-up round, then the measured one
            spent.clear()
            actions = rng.uniform(low, high, size=(steps, len(low))).astype(np.float32)
            start = clock()
            for a in actions:
                _, _, terminated, truncated, _ = env.step(a)
                if terminated or truncated:
                    env.reset()
            total = (clock() - start) / steps / 1e3
    finally:
        for obj, name, original in reversed(restore):
            if original is None:
                delattr(obj, name)  # the instance attribute hid the class's method
            else:
                setattr(obj, name, original)
        env.close()
    parts = {label: spent.get(label, 0) / steps / 1e3 for label, _, _ in SEGMENTS}
    parts["state read: the rest"] -= parts["state read: pybullet queries"]
    parts["other (the rest of the step)"] = total - sum(parts.values())
    physics = parts["physics (stable PD + stepSimulation)"]
    return {"total_us": total, "segments_us": parts, "overhead_us": total - physics, "physics_share": physics / total}


def tracking(character, clip, sim_hz, seeds=5, first_steps=10, pd_target_velocity="zero"):
    """Mean reward over the first steps and survival time, tracking reference_action() from RSI."""
    env = _make(character, clip, sim_hz=sim_hz, pd_target_velocity=pd_target_velocity)
    means, survival = [], []
    try:
        for seed in range(seeds):
            env.reset(seed=seed)
            rewards = []
            while True:
                _, r, terminated, truncated, _ = env.step(env.reference_action())
                rewards.append(r)
                if terminated or truncated:
                    break
            means.append(float(np.mean(rewards[:first_steps])))
            survival.append(len(rewards) * env.dt)
    finally:
        env.close()
    return {"sim_hz": sim_hz, "mean_reward_first": float(np.mean(means)), "per_seed": means,
            "survival_s": float(np.median(survival)), "survival_per_seed": survival}


def run(args) -> int:
    if args.solver_iterations is not None:
        from awr_mimic.envs import world
        from awr_mimic.errors import ConfigError

        if args.solver_iterations < 1:
            raise ConfigError(f"--solver-iterations must be at least 1, got {args.solver_iterations}")
        world.SOLVER_ITERATIONS = args.solver_iterations
    print(f"awr-mimic bench env: character={args.character} clip={args.clip} (one core, medians of {args.rounds} rounds)")
    s = speed(args.character, args.clip, args.sim_hz, args.steps, args.rounds)
    print(f"  sim {s['sim_hz']} Hz, {s['substeps']} substeps per control step; one env:")
    print(f"  env control steps/s        {s['env_steps_per_s']:8.0f}   (rounds: {', '.join(f'{x:.0f}' for x in s['env_rounds'])})")
    print(f"  raw physics limit steps/s  {s['raw_steps_per_s']:8.0f}   (= {s['raw_physics_steps_per_s']:.0f} physics steps/s)")
    print(f"  ratio env / raw            {s['ratio']:8.3f}   (median of per-round ratios: {', '.join(f'{x:.2f}' for x in s['ratios'])})")
    if args.num_envs > 1:
        b = batch_speed(args.character, args.clip, args.sim_hz, args.num_envs, args.steps, args.rounds)
        print(f"  {b['num_envs']} envs stepped together (one core, as in a sampler worker):")
        print(f"  env control steps/s        {b['env_steps_per_s']:8.0f}")
        print(f"  raw physics limit steps/s  {b['raw_steps_per_s']:8.0f}")
        print(f"  ratio env / raw            {b['ratio']:8.3f}   (median of per-round ratios: {', '.join(f'{x:.2f}' for x in b['ratios'])})")
    if args.segments:
        g = segments(args.character, args.clip, args.sim_hz, max(args.steps, 1000))
        print(f"  one env's control step, CPU time per step (us), {g['total_us']:.0f} in all:")
        for label, us in sorted(g["segments_us"].items(), key=lambda kv: -kv[1]):
            print(f"    {label:38s} {us:7.1f}")
        print(f"  overhead {g['overhead_us']:.0f} us per step; physics share {g['physics_share']:.3f}")
    if not args.skip_tracking:
        clips = (args.tracking_clips or args.clip).split(",")
        rates = [int(r) for r in args.tracking_rates.split(",")]
        print(f"  reference tracking (reference_action from RSI, {args.seeds} seeds, "
              f"PD target velocity {args.pd_target_velocity}):")
        print("    clip          sim_hz  mean reward (first 10 steps)  median survival (s)")
        for clip in clips:
            for rate in rates:
                t = tracking(args.character, clip, rate, args.seeds, pd_target_velocity=args.pd_target_velocity)
                print(f"    {clip:12s}  {rate:6d}  {t['mean_reward_first']:28.3f}  {t['survival_s']:19.2f}")
    return 0
