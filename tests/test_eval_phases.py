"""Evaluation episodes of an imitation env start at phases spread evenly over the clip."""
import numpy as np

from awr_mimic.learning.awr import AWR, policy_kwargs
from awr_mimic.learning.config import preset
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.sampling import LocalSampler
from awr_mimic.sampling.rollout import eval_start_phase

CFG = preset("mimic").replace(actor_hidden=(32,), critic_hidden=(32,))


def _largest_gap(phases) -> float:
    p = np.sort(np.asarray(phases))
    return float(np.diff(np.concatenate([p, [p[0] + 1.0]])).max())


def test_any_number_of_episodes_covers_the_clip_evenly():
    for seed in (0, 1, 7):
        for n in range(2, 65):
            phases = [eval_start_phase(seed, k) for k in range(n)]
            assert all(0.0 <= x < 1.0 for x in phases)
            # independent uniform phases leave a gap of about ln(n)/n (4/n at n = 64)
            assert _largest_gap(phases) < 2.0 / n, (seed, n)
    # the offset comes from the seed, so different seeds test different phases
    assert eval_start_phase(0, 0) != eval_start_phase(1, 0)
    assert eval_start_phase(3, 5) == eval_start_phase(3, 5)


def test_single_and_batched_workers_start_evaluation_at_the_same_phases():
    spec = EnvSpec("awr_mimic/Mimic-v0", {"character": "humanoid", "clip": "walk", "time_limit": 0.3})
    results = []
    for envs_per_worker in (1, 4):
        with LocalSampler(spec, policy_kwargs(CFG), seed=5, workers=0, envs_per_worker=envs_per_worker) as s:
            s.set_weights(AWR(s.space, CFG).policy_weights())
            results.append(s.evaluate(5))
    single, batched = results
    np.testing.assert_array_equal(single.lengths, batched.lengths)
    starts = np.concatenate([[0], np.cumsum(single.lengths)[:-1]])
    np.testing.assert_allclose(single.obs[starts], batched.obs[starts], atol=1e-5)
    np.testing.assert_allclose(single.returns, batched.returns, rtol=1e-4)


def test_a_fixed_start_phase_holds_for_batched_training_and_evaluation():
    spec = EnvSpec("awr_mimic/Mimic-v0", {"character": "humanoid", "clip": "walk", "time_limit": 0.2,
                                          "start_phase": 0.3})
    firsts = []
    for envs_per_worker in (1, 3):
        with LocalSampler(spec, policy_kwargs(CFG), seed=2, workers=0, envs_per_worker=envs_per_worker) as s:
            s.set_weights(AWR(s.space, CFG).policy_weights())
            for batch in (s.sample(20), s.evaluate(3)):
                starts = np.concatenate([[0], np.cumsum(batch.lengths)[:-1]])
                firsts.append(batch.obs[starts])
    first = firsts[0][0]
    for obs in firsts:
        np.testing.assert_allclose(obs, np.broadcast_to(first, obs.shape), atol=1e-5)
