"""Adaptive reference state initialisation: training starts drawn where recent episodes fell."""
import numpy as np
import pytest

import awr_mimic
from awr_mimic.errors import ConfigError
from awr_mimic.learning.config import AWRConfig, resume_changes
from awr_mimic.learning.envspec import EnvSpec
from awr_mimic.sampling.starts import START_BINS, StartPhases


def _start_phases(batch) -> np.ndarray:
    """Each path's first observation starts with its clip phase."""
    firsts = np.concatenate([[0], np.cumsum(batch.lengths)[:-1]])
    return batch.obs[firsts, 0]


def test_share_zero_is_uniform_rsi_with_the_same_random_stream():
    starts = StartPhases()
    starts.fail_rate[3] = 1.0  # ignored at share 0
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert [starts.draw(a, 0.0) for _ in range(50)] == [float(b.uniform()) for _ in range(50)]


def test_failures_raise_a_bins_share_and_successes_lower_it():
    starts = StartPhases()
    clip_steps = 30
    for _ in range(20):
        starts.record(0.33, steps=10, fell=True, clip_steps=clip_steps)  # falls early from the push-off
        starts.record(0.80, steps=30, fell=False, clip_steps=clip_steps)  # plays a whole clip
    band = int(0.33 * START_BINS)
    p = starts.probabilities(0.5)
    assert p.sum() == pytest.approx(1.0)
    assert p[band] > 0.45  # of 0.5 + 0.5/20 were it always to fall
    assert p[int(0.8 * START_BINS)] < 1.0 / START_BINS
    rng = np.random.default_rng(0)
    drawn = np.array([starts.draw(rng, 0.5) for _ in range(4000)])
    share = np.mean((drawn * START_BINS).astype(int) == band)
    assert abs(share - p[band]) < 0.03
    # once the stretch is learned, its weight decays back towards uniform
    for _ in range(60):
        starts.record(0.33, steps=40, fell=True, clip_steps=clip_steps)  # fell, but after a whole clip
    assert starts.probabilities(0.5)[band] < 1.1 / START_BINS


def test_a_rare_fall_does_not_pull_the_whole_share():
    starts = StartPhases()
    starts.record(0.5, steps=5, fell=True, clip_steps=30)  # one fall: that bin's rate is 0.1
    assert starts.probabilities(0.5)[10] == pytest.approx((0.025 + 0.05) / 0.55)


def test_episodes_cut_short_without_a_fall_say_nothing():
    starts = StartPhases()
    starts.record(0.5, steps=5, fell=False, clip_steps=30)  # the time cap, not a success
    assert not starts.fail_rate.any()


@pytest.mark.parametrize("num_envs", [1, 2])
def test_training_episodes_start_where_the_rates_say(num_envs):
    from awr_mimic.sampling.rollout import make_rollout

    spec = EnvSpec(awr_mimic.ENV_ID, {"character": "humanoid", "clip": "walk", "action_mode": "residual"})
    rollout = make_rollout(spec, None, seed=0, index=0, envs_per_worker=num_envs)
    try:
        rollout.starts.fail_rate[7] = 1.0  # phases [0.35, 0.40)
        batch = rollout.run(400, call=0, mode="random", adaptive_rsi=0.9)
        phases = _start_phases(batch)
        assert len(phases) >= 5
        # random actions fall everywhere, so other bins gain weight as the call goes on
        assert np.mean((phases >= 0.35) & (phases < 0.40)) > 0.5
        assert (rollout.starts.fail_rate > 0).sum() > 1  # and the episodes were recorded
        uniform = rollout.run(400, call=1, mode="random", adaptive_rsi=0.0)
        assert np.mean((_start_phases(uniform) >= 0.35) & (_start_phases(uniform) < 0.40)) < 0.5
    finally:
        rollout.close()


def test_config_checks_and_resume_may_change_it():
    with pytest.raises(ConfigError, match="adaptive_rsi: must be in"):
        AWRConfig().replace(adaptive_rsi=1.0)
    cfg, changed = resume_changes(AWRConfig(), {"adaptive_rsi": 0.5})
    assert cfg.adaptive_rsi == 0.5 and changed
