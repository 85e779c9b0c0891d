"""`awr-mimic eval --by-phase`: where in the clip an imitation policy loses reward and falls.

The per-phase profile must add up to the episodes it came from (steps, return, falls), on both
rollout paths (one env, and a batch of envs), and stay out of the overall statistics."""
from __future__ import annotations

import json

import numpy as np
import pytest

from awr_mimic.cli import main
from awr_mimic.envs.reward import TERM_NAMES
from awr_mimic.learning.awr import policy_kwargs
from awr_mimic.learning.checkpoint import open_policy
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.learning.networks import policy_weights
from awr_mimic.sampling.base import PHASE_BINS
from awr_mimic.sampling.rollout import make_rollout


@pytest.mark.parametrize("envs_per_worker", [1, 3])
def test_the_phase_profile_adds_up_to_its_episodes(envs_per_worker):
    ck = open_policy("humanoid/spinkick")
    # short episodes; the spinkick controller falls from some phases, so falls are counted too
    spec = EnvSpec(ck.env_spec.id, {**ck.env_spec.kwargs, "time_limit": 4.0})
    rollout = make_rollout(spec, policy_kwargs(ck.config), seed=0, index=0, envs_per_worker=envs_per_worker)
    try:
        rollout.set_weights(policy_weights(ck.policy))
        batch = rollout.run_episodes(list(range(6)))
    finally:
        rollout.close()
    profile = batch.phase_profile()
    assert 1 < len(profile) <= PHASE_BINS
    assert [row["phase"][0] for row in profile] == sorted(row["phase"][0] for row in profile)
    assert sum(row["steps"] for row in profile) == int(batch.lengths.sum())
    np.testing.assert_allclose(sum(row["reward"] * row["steps"] for row in profile), batch.returns.sum(), rtol=1e-5)
    assert sum(row["falls"] for row in profile) == int(batch.terminated.sum())
    means = batch.info_means()
    for name in TERM_NAMES:
        overall = sum(row[name] * row["steps"] for row in profile) / batch.lengths.sum()
        np.testing.assert_allclose(overall, means[f"reward_{name}"], rtol=1e-6)
    assert not any(k.startswith("by_phase") for k in batch.stats())  # not in the periodic eval's columns


def test_zero_residual_falls_and_the_profile_says_where():
    ck = open_policy("humanoid/spinkick")
    spec = EnvSpec(ck.env_spec.id, {**ck.env_spec.kwargs, "time_limit": 4.0})
    rollout = make_rollout(spec, policy_kwargs(ck.config), seed=0, index=0, envs_per_worker=4)
    try:
        weights = policy_weights(ck.policy)
        last = max(k for k in weights if k.startswith("net.") and k.endswith(".weight"))
        weights = {k: np.zeros_like(v) if k in (last, last.replace("weight", "bias")) else v for k, v in weights.items()}
        rollout.set_weights(weights)  # a zero output layer: every action 0, the reference's PD targets open loop
        batch = rollout.run_episodes(list(range(4)))
    finally:
        rollout.close()
    falls = [row["falls"] for row in batch.phase_profile()]
    assert sum(falls) == int(batch.terminated.sum()) >= 3  # open loop, the spinkick falls within a second


def test_cli_prints_the_table_and_json_has_it(capsys):
    assert main(["eval", "--checkpoint", "humanoid/walk", "--episodes", "1", "--workers", "0", "--by-phase"]) == 0
    out = capsys.readouterr().out
    assert "by clip phase" in out and "0.0-0.1" in out and "0.9-1.0" in out
    assert main(["eval", "--checkpoint", "humanoid/walk", "--episodes", "1", "--workers", "0", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert len(r["by_phase"]) == PHASE_BINS  # a 20 s walk episode passes every tenth of the clip
    assert sum(row["steps"] for row in r["by_phase"]) == round(r["mean_length"])
    assert set(r["by_phase"][0]) == {"phase", "steps", "reward", "falls", *TERM_NAMES}
