"""`awr-mimic bench learn`: learner update steps/s, and end-to-end training vs env-only sampling.

1. Learner: minibatch-256 critic and actor SGD steps on the mimic networks
   ([1024, 512], 197-dim observations, 28-dim actions) in fp32 and bf16
   autocast, and one full AWR update (4096 new samples: value passes over the
   buffer, TD(lambda), critic and actor steps) on a synthetic buffer.
2. Env-only: the same (warm) sampler workers collecting with a fixed policy, nothing else.
3. End-to-end: ``Trainer`` with the mimic preset and the same workers
   (checkpoints included), after three warm-up iterations.
4. The ratio end-to-end / env-only (goal: >= 0.7). Env-only is measured
   before and after the end-to-end run, with the policy of that moment, and
   averaged, so drift in machine load hits both sides. Without overlap, the
   sampling share of each training iteration is the same ratio measured with
   exactly the policies being trained; it is also projected to a full buffer.
"""
from __future__ import annotations

import json
import math
import tempfile
import time

import numpy as np

HELP = "learner update steps/s, end-to-end training samples/s vs env-only samples/s on the humanoid"


def add_arguments(parser):
    parser.add_argument("--character", default="humanoid")
    parser.add_argument("--clip", default="walk")
    parser.add_argument("--workers", type=int, default=None, help="sampler workers (default: cores)")
    parser.add_argument("--iterations", type=int, default=6, help="end-to-end iterations after a warm-up one")
    parser.add_argument("--env-rounds", type=int, default=3, help="env-only batches before and after")
    parser.add_argument("--learner-steps", type=int, default=40, help="minibatch steps per timing")
    parser.add_argument("--buffer-rows", type=int, default=500_000, help="synthetic buffer for the full update")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for the learner and end-to-end runs (e.g. overlap=true)")
    parser.add_argument("--learner-only", action="store_true", help="skip the env parts")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _cfg(args):
    from awr_mimic.learning.config import parse_set, resolve

    return resolve("mimic", parse_set(args.set))


def bench_learner(cfg, steps: int, buffer_rows: int, obs_dim: int = 197, act_dim: int = 28) -> dict:
    import torch

    from awr_mimic.learning.awr import AWR
    from awr_mimic.learning.networks import SpaceInfo
    from awr_mimic.sampling.base import PathBatch

    space = SpaceInfo(obs_dim, False, act_dim, (-1.0,) * act_dim, (1.0,) * act_dim)
    rng = np.random.default_rng(0)
    out = {"threads": torch.get_num_threads()}
    T = 600  # full-length humanoid paths
    n_paths = max(1, buffer_rows // (T + 1) - 1)

    def batch(paths):
        n = paths * T
        return PathBatch(rng.standard_normal((n, obs_dim), np.float32),
                         rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
                         rng.uniform(0, 1, n).astype(np.float32), np.full(paths, T), np.zeros(paths, bool),
                         np.ones(paths, bool), rng.standard_normal((paths, obs_dim), np.float32),
                         np.zeros(paths), np.zeros(paths))

    chosen = AWR(space, cfg.replace(buffer_size=20 * (T + 1))).precision_choice
    out["precision"], out["precision_reason"] = chosen["precision"], chosen["reason"]
    for bf16 in (False, True):
        algo = AWR(space, cfg.replace(precision="bf16" if bf16 else "fp32", buffer_size=max(buffer_rows, 20 * (T + 1))))
        algo.add_batch(batch(20))
        rows = algo.buffer.index()["rows"]
        ret = rng.standard_normal(len(rows))
        w = np.ones(len(rows), np.float32)
        algo._fit_critic(rows, ret, 3)  # warm-up
        algo._fit_actor(rows, w, 3)
        t0 = time.perf_counter()
        algo._fit_critic(rows, ret, steps)
        t1 = time.perf_counter()
        algo._fit_actor(rows, w, steps)
        t2 = time.perf_counter()
        tag = "bf16" if bf16 else "fp32"
        out[f"critic_steps_per_s_{tag}"] = steps / (t1 - t0)
        out[f"actor_steps_per_s_{tag}"] = steps / (t2 - t1)
    # one full update as configured, on a full buffer
    algo = AWR(space, cfg.replace(buffer_size=buffer_rows))
    for _ in range(0, n_paths, 50):
        algo.add_batch(batch(min(50, n_paths)))
    algo.update(cfg.samples_per_iter)  # warm-up (values of the rows just added)
    algo.add_batch(batch(7))  # ~4096 new samples
    t0 = time.perf_counter()
    stats = algo.update(7 * T)
    out["full_update_s"] = time.perf_counter() - t0
    out["full_update_buffer_samples"] = int(stats["buffer_samples"])
    out["full_update_critic_steps"] = algo.num_steps(cfg.critic_steps, 7 * T)
    out["full_update_actor_steps"] = algo.num_steps(cfg.actor_steps, 7 * T)
    return out


def _env_only(sampler, samples_per_iter, rounds, weights):
    """The trainer's own (warm) workers sampling with fixed weights and nothing else.

    Fresh workers are ~25% slower for their first dozen batches (env warm-up), so a separate
    sampler would flatter the end-to-end side.
    """
    if sampler._pending is not None:  # overlap: the trainer's next batch is in flight
        sampler.wait()
    sampler.set_weights(weights)
    t0, n = time.perf_counter(), 0
    for _ in range(rounds):
        n += sampler.sample(samples_per_iter).num_samples
    return n / (time.perf_counter() - t0)


def bench_end_to_end(args, cfg) -> dict:
    from awr_mimic.errors import AwrMimicError
    from awr_mimic.learning.envspec import EnvSpec
    from awr_mimic.learning.trainer import Trainer

    try:
        import awr_mimic.envs.mimic_env  # noqa: F401
    except ImportError as exc:
        raise AwrMimicError(f"bench learn: the imitation env is not available ({exc})") from exc
    spec = EnvSpec("awr_mimic/Mimic-v0", {"character": args.character, "clip": args.clip})
    if args.workers is not None:
        cfg = cfg.replace(workers=args.workers)
    cfg = cfg.replace(eval_every=0)  # periodic eval is not sampling; measured separately if wanted
    with tempfile.TemporaryDirectory() as tmp:
        with Trainer("awr", spec, config=cfg, run_dir=tmp) as t:
            workers = t.cfg.resolved_workers()
            for _ in range(3):  # warm-up: worker start, env caches, first values, normaliser data
                t._iterate()
            # env-only with the policy of the moment (an untrained normaliser changes episode lengths)
            env_before = _env_only(t.sampler, cfg.samples_per_iter, args.env_rounds, t.algo.policy_weights())
            if cfg.overlap:
                t._start_request(t.algo.policy_weights())
            s0, t0 = t.samples, time.perf_counter()
            sample_s = update_s = 0.0
            for _ in range(args.iterations):
                row = t._iterate()
                sample_s += row["sample_time_s"]
                update_s += row["update_time_s"]
            e2e = (t.samples - s0) / (time.perf_counter() - t0)
            it_s = (time.perf_counter() - t0) / args.iterations
            env_after = _env_only(t.sampler, cfg.samples_per_iter, args.env_rounds, t.algo.policy_weights())
    env = (env_before + env_after) / 2
    return {"iteration_overhead_s": it_s - sample_s / args.iterations - update_s / args.iterations,"workers": workers, "env_only_samples_per_s": env, "env_only_before": env_before,
            "env_only_after": env_after, "end_to_end_samples_per_s": e2e, "ratio": e2e / env,
            "iteration_s": it_s, "sample_wait_s_per_iter": sample_s / args.iterations,
            "update_s_per_iter": update_s / args.iterations, "overlap": cfg.overlap}


def run(args) -> int:
    import torch

    cfg = _cfg(args)
    threads = cfg.learner_threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    res = {"learner": bench_learner(cfg, args.learner_steps, args.buffer_rows)}
    if not args.json:
        L = res["learner"]
        print(f"learner ({L['threads']} threads, minibatch 256, [1024, 512] nets, 197 -> 28):")
        for tag in ("fp32", "bf16"):
            mark = "   <- chosen" if tag == L["precision"] else ""
            print(f"  {tag}: critic {L[f'critic_steps_per_s_{tag}']:.0f} steps/s, "
                  f"actor {L[f'actor_steps_per_s_{tag}']:.0f} steps/s{mark}")
        print(f"  precision (config {cfg.precision!r}): {L['precision']}, {L['precision_reason']}")
        print(f"  full update ({L['precision']}, {cfg.critic_steps} critic + {cfg.actor_steps} actor steps, value refresh "
              f"{cfg.value_refresh_fraction:g}, {L['full_update_buffer_samples']} buffer samples): "
              f"{L['full_update_s']:.2f} s")
    if not args.learner_only:
        L = res["learner"]
        res["end_to_end"] = E = bench_end_to_end(args, cfg)
        if not args.json:
            print(f"humanoid {args.clip}, {E['workers']} workers{' (overlap)' if E['overlap'] else ''}:")
            print(f"  env-only      {E['env_only_samples_per_s']:.0f} samples/s "
                  f"(before {E['env_only_before']:.0f}, after {E['env_only_after']:.0f})")
            print(f"  end-to-end    {E['end_to_end_samples_per_s']:.0f} samples/s "
                  f"({E['iteration_s']:.2f} s/iteration: waiting for samples {E['sample_wait_s_per_iter']:.2f} s, "
                  f"update {E['update_s_per_iter']:.2f} s)")
            ok = "meets" if E["ratio"] >= 0.7 else "below"
            print(f"  ratio         {E['ratio']:.2f} ({ok} the 0.7 goal)")
            if not E["overlap"]:
                # Without overlap the sampling part of an iteration is env-only sampling with the same
                # workers and the policies of that moment, so its share of the iteration is the ratio
                # free of the policy difference (episode lengths change as the policy learns).
                w = E["sample_wait_s_per_iter"]
                E["in_run_ratio"] = w / E["iteration_s"]
                E["in_run_ratio_full_buffer"] = w / (w + L["full_update_s"] + E["iteration_overhead_s"])
                print(f"  in-run ratio  {E['in_run_ratio']:.2f} (sampling share of each iteration); with a full "
                      f"{L['full_update_buffer_samples']}-sample buffer: {E['in_run_ratio_full_buffer']:.2f} "
                      f"(sampling + full update {L['full_update_s']:.2f} s + overhead "
                      f"{E['iteration_overhead_s']:.2f} s)")
    if args.json:
        print(json.dumps(res, indent=2, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x))
    return 0
