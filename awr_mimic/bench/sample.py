"""`awr-mimic bench sample`: sampler backends compared in one run (samples/s and overhead per batch).

A local sampler and a Ray sampler with the same seed, worker count and envs are
started side by side. Each round, both collect one batch with the same policy
weights (``set_weights`` + ``sample``, as the trainer does per iteration), in
alternating order so drift in machine load hits both alike. Because the call
numbers match, both backends collect identical batches (checked), so the time
difference of a round is the backend's overhead alone. Medians over rounds are
quoted. Also reported: Ray's plumbing (a batch's wall time minus its slowest
actor's compute time) and, when Ray runs on this machine, the CPU seconds per
1000 samples of all of each backend's processes (Ray's own included), whose
ratio is the samples/s ratio to expect on cores the backends have to
themselves. Per-worker samples/s is the env-only figure per core used for the
scaling estimate in docs/distributed.md.
"""
from __future__ import annotations

import json
import os
import statistics
import time

_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _procs() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds so far) of every process (Linux /proc)."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(d)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLK)
    return out


def _process_sets(local_pids: list[int]) -> tuple[set, set]:
    """This driver's descendants split into the local backend's processes and Ray's (actors, raylet, GCS...)."""
    procs = _procs()
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    todo, tree = [os.getpid()], set()
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in tree:
                tree.add(k)
                todo.append(k)
    local = set(local_pids) | {procs[p][0] for p in local_pids if p in procs}  # workers + their forkserver
    return local, tree - local - {os.getpid()}


def _cpu(pids: set) -> float:
    procs = _procs()
    return sum(procs[p][1] for p in pids if p in procs)


HELP = "samples/s of the local and ray sampler backends and the ray overhead per batch (same env, one run)"


def add_arguments(parser):
    parser.add_argument("--backend", choices=["ray"], default="ray", help="backend compared with local (ray)")
    parser.add_argument("--address", metavar="auto|HOST:PORT", help="Ray cluster to join (default: start Ray here)")
    parser.add_argument("--workers", type=int, default=2, help="workers of each backend (default 2)")
    parser.add_argument("--character", default="humanoid")
    parser.add_argument("--clip", default="walk")
    parser.add_argument("--env", metavar="GYM_ID", help="any gymnasium id instead of the imitation env")
    parser.add_argument("--envs-per-worker", type=int, default=None,
                        help="imitation envs per worker (default: the mimic preset's, 8)")
    parser.add_argument("--samples", type=int, default=None,
                        help="samples per batch (default: the preset's samples_per_iter, 4096 for mimic)")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds (each: one batch per backend)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed batches per backend first")
    parser.add_argument("--policy", choices=["initial", "random"], default="initial",
                        help="initial policy weights of the preset's net, or uniform random actions")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args) -> int:
    from awr_mimic.errors import ConfigError
    from awr_mimic.learning.awr import AWR, policy_kwargs
    from awr_mimic.learning.config import preset
    from awr_mimic.learning.envspec import EnvSpec
    from awr_mimic.sampling import LocalSampler
    from awr_mimic.sampling.ray_backend import RaySampler, import_ray

    if args.workers < 1 or args.rounds < 1:
        raise ConfigError("bench sample needs --workers >= 1 and --rounds >= 1")
    ray = import_ray()
    if args.env:
        spec, cfg = EnvSpec(args.env), preset("gym")
    else:
        spec = EnvSpec("awr_mimic/Mimic-v0", {"character": args.character, "clip": args.clip})
        cfg = preset("mimic")
    epw = args.envs_per_worker or cfg.envs_per_worker
    n = args.samples or cfg.samples_per_iter
    mode = "random" if args.policy == "random" else "policy"
    load_before = os.getloadavg()
    init = {} if args.address else {"num_cpus": max(args.workers, os.cpu_count() or 1)}
    pk = policy_kwargs(cfg)
    t0 = time.perf_counter()
    local = LocalSampler(spec, pk, seed=0, workers=args.workers, envs_per_worker=epw)
    local_start = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        remote = RaySampler(spec, pk, seed=0, workers=args.workers, envs_per_worker=epw, address=args.address,
                            init_kwargs=init)
        ray_start = time.perf_counter() - t0
        try:
            weights = AWR(local.space, cfg).policy_weights()
            samplers = {"local": local, "ray": remote}
            times = {"local": [], "ray": []}
            counts = {"local": [], "ray": []}
            plumbing = []  # ray: wall time - the slowest actor's compute time
            cpu = {"local": [], "ray": []}  # CPU seconds of each backend's processes per batch (Ray on this machine)
            actor_cpu = []  # of which the actor processes
            measure_cpu = args.address is None and os.path.exists("/proc/self/stat")
            identical = True
            for r in range(args.warmup + args.rounds):
                order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
                batches = {}
                sets = dict(zip(("local", "ray"), _process_sets([p.pid for p in local._procs]))) \
                    if measure_cpu else None
                for name in order:
                    s = samplers[name]
                    c = _cpu(sets[name]) if sets else 0.0
                    ca = _cpu(set(remote.pids)) if sets else 0.0
                    t = time.perf_counter()
                    s.set_weights(weights)
                    batches[name] = s.sample(n, mode)
                    dt = time.perf_counter() - t
                    if r >= args.warmup and sets:
                        cpu[name].append(_cpu(sets[name]) - c)
                        if name == "ray":
                            actor_cpu.append(_cpu(set(remote.pids)) - ca)
                    if r >= args.warmup:
                        times[name].append(dt)
                        counts[name].append(batches[name].num_samples)
                        if name == "ray":
                            plumbing.append(dt - max(remote.last_compute_s()))
                a, b = batches["local"], batches["ray"]
                identical &= a.num_samples == b.num_samples and bool((a.obs == b.obs).all())
        finally:
            remote.close()
    finally:
        local.close()
    load_after = os.getloadavg()

    rate = {k: statistics.median(c / t for c, t in zip(counts[k], times[k])) for k in times}
    over = [tr - tl for tr, tl in zip(times["ray"], times["local"])]
    over_pct = [100 * (tr - tl) / tl for tr, tl in zip(times["ray"], times["local"])]
    res = {
        "env": str(spec), "workers": args.workers, "envs_per_worker": epw if spec.is_mimic else 1,
        "policy": args.policy, "samples_per_batch": n, "rounds": args.rounds,
        "mean_batch_samples": statistics.mean(counts["local"]),
        "local_samples_per_s": rate["local"], "ray_samples_per_s": rate["ray"],
        "ratio": rate["ray"] / rate["local"],
        "paired_ratio": statistics.median(tl / tr for tr, tl in zip(times["ray"], times["local"])),
        "local_per_worker_samples_per_s": rate["local"] / args.workers,
        "local_batch_s": statistics.median(times["local"]), "ray_batch_s": statistics.median(times["ray"]),
        "overhead_s_per_batch": statistics.median(over), "overhead_pct": statistics.median(over_pct),
        "ray_plumbing_s_per_batch": statistics.median(plumbing),
        "ray_plumbing_pct": 100 * statistics.median(p / t for p, t in zip(plumbing, times["ray"])),
        "identical_batches": identical,
        "local_cpu_s_per_1k": (statistics.median(1e3 * c / k for c, k in zip(cpu["local"], counts["local"]))
                               if cpu["local"] else None),
        "ray_cpu_s_per_1k": (statistics.median(1e3 * c / k for c, k in zip(cpu["ray"], counts["ray"]))
                             if cpu["ray"] else None),
        "ray_actor_cpu_s_per_1k": (statistics.median(1e3 * c / k for c, k in zip(actor_cpu, counts["ray"]))
                                   if actor_cpu else None), "local_start_s": local_start, "ray_start_s": ray_start,
        "load_before": load_before, "load_after": load_after, "ray_version": ray.__version__,
    }
    if res["ray_cpu_s_per_1k"]:
        res["cpu_ratio"] = res["local_cpu_s_per_1k"] / res["ray_cpu_s_per_1k"]
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['env']}: {args.workers} workers x {res['envs_per_worker']} envs, {args.policy} policy, "
          f"{n} samples per batch (mean {res['mean_batch_samples']:.0f}), {args.rounds} alternating rounds "
          f"after {args.warmup} warm-up; medians")
    print(f"  local  {rate['local']:8.0f} samples/s  ({res['local_batch_s']:.3f} s/batch, "
          f"{res['local_per_worker_samples_per_s']:.0f} samples/s per worker; start {local_start:.1f} s)")
    print(f"  ray    {rate['ray']:8.0f} samples/s  ({res['ray_batch_s']:.3f} s/batch; start {ray_start:.1f} s "
          f"incl. ray.init)")
    ok = "meets" if res["ratio"] >= 0.9 else "below"
    print(f"  ratio  {res['ratio']:.3f} ray/local ({ok} the 0.9 goal; median of paired rounds "
          f"{res['paired_ratio']:.3f})")
    print(f"  overhead per batch, ray - local: {res['overhead_s_per_batch'] * 1e3:+.1f} ms "
          f"({res['overhead_pct']:+.2f} %); ray plumbing (wall - slowest actor's compute): "
          f"{res['ray_plumbing_s_per_batch'] * 1e3:.1f} ms ({res['ray_plumbing_pct']:.2f} %)")
    if res["ray_cpu_s_per_1k"]:
        print(f"  CPU per 1000 samples (all of a backend's processes, Ray's own included): local "
              f"{res['local_cpu_s_per_1k']:.3f} s, ray {res['ray_cpu_s_per_1k']:.3f} s (actors "
              f"{res['ray_actor_cpu_s_per_1k']:.3f} s); ratio "
              f"{res['cpu_ratio']:.3f} (the samples/s ratio on cores the backends have to themselves)")
    print(f"  identical batches: {'yes' if identical else 'NO'}; load average before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f} (1 min)")
    return 0
