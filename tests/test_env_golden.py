"""The env's step gives the numbers it gave before the step was optimised.

`tests/data/env_golden.npz` holds observations, rewards, reward terms, tracking errors and episode
flags of a few short runs of fixed actions (with resets, a loop-cycle re-sync, residual actions,
target observations, drift termination, a y-up and a z-up character), recorded from the code before
the per-step numpy overhead was cut (issue 20). Regenerate only on purpose:

    python tests/test_env_golden.py --write

The physics itself is pybullet's; if this machine's pybullet integrates the recorded actions to a
different final state, the comparison says nothing about our code and the case is skipped.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import awr_mimic

DATA = Path(__file__).parent / "data" / "env_golden.npz"

# name: env options, steps, first phase, action noise (normalised units) around the reference action
CASES = {
    "humanoid_spinkick_random": (dict(character="humanoid", clip="spinkick"), 30, 0.3, None),
    "humanoid_walk_residual": (dict(character="humanoid", clip="walk", action_mode="residual",
                                    target_obs_steps=[1, 2, 3], pose_termination=1.0), 24, 0.93, 0.05),
    "dog_walk": (dict(character="dog"), 20, 0.5, 0.03),
    "laikago_walk_residual": (dict(character="laikago", action_mode="residual", target_obs_steps=[2]), 20, 0.2, 0.05),
}
KEYS = ("obs", "reward", "terms", "terminated", "truncated", "joint_angle_error", "end_effector_error", "phase",
        "fell")


def run_case(name):
    """The case's per-step outputs (reset observations appear as rows with reward NaN), and the final state."""
    options, steps, phase, noise = CASES[name]
    env = awr_mimic.make_env(**options)
    rng = np.random.default_rng(7)
    out = {k: [] for k in KEYS}

    def record(obs, reward=np.nan, terms=(np.nan,) * 5, terminated=False, truncated=False, info=None):
        info = info or {}
        out["obs"].append(obs)
        out["reward"].append(reward)
        out["terms"].append(list(terms))
        out["terminated"].append(terminated)
        out["truncated"].append(truncated)
        for k in ("joint_angle_error", "end_effector_error", "phase"):
            out[k].append(info.get(k, np.nan))
        out["fell"].append(info.get("fell", False))

    try:
        obs, info = env.reset(options={"phase": phase})
        record(obs, info={"phase": info["phase"]})
        half = np.pi
        for _ in range(steps):
            if noise is None:
                action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
            else:
                action = (env.reference_action() + half * rng.normal(0.0, noise, env.action_space.shape))
                action = action.astype(np.float32)
            obs, r, te, tr, info = env.step(action)
            record(obs, r, info["reward_terms"].values(), te, tr, info)
            if te or tr:
                obs, info = env.reset(options={"phase": float(rng.uniform())})
                record(obs, info={"phase": info["phase"]})
        sim = env.batch.sim  # the physical state, in the layout it was recorded in
        final = np.concatenate([sim.tracked[0], sim.link_vectors[0].ravel(), sim.link_quat[0].ravel()])
    finally:
        env.close()
    arrays = {k: np.asarray(v, dtype=np.float32 if k == "obs" else None) for k, v in out.items()}
    return arrays, final


def write():
    data = {}
    for name in CASES:
        arrays, final = run_case(name)
        for k, v in arrays.items():
            data[f"{name}/{k}"] = v
        data[f"{name}/final_state"] = final
    DATA.parent.mkdir(exist_ok=True)
    np.savez_compressed(DATA, **data)


@pytest.mark.parametrize("cache_steps", [None, 2])
@pytest.mark.parametrize("name", list(CASES))
def test_step_matches_recorded_values(name, cache_steps, monkeypatch):
    if cache_steps is not None:  # the reference cache refilled every few steps, mid-episode
        import awr_mimic.envs.batch

        monkeypatch.setattr(awr_mimic.envs.batch, "_CACHE_STEPS", cache_steps)
    golden = np.load(DATA)
    arrays, final = run_case(name)
    recorded_final = golden[f"{name}/final_state"]
    if final.shape != recorded_final.shape or not np.allclose(final, recorded_final, rtol=0, atol=1e-6):
        pytest.skip("this pybullet integrates the recorded actions differently: the comparison says nothing")
    for k in KEYS:
        want, got = golden[f"{name}/{k}"], arrays[k]
        assert got.shape == want.shape, k
        if got.dtype == bool:
            assert np.array_equal(got, want), k
        else:
            assert np.allclose(got, want, rtol=0, atol=1e-5 if k == "obs" else 1e-6, equal_nan=True), k


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
        print(f"wrote {DATA} ({DATA.stat().st_size} bytes)")
