"""`awr-mimic bench env`: the raw-physics rounds replay the env rounds' physics exactly."""
import numpy as np

from awr_mimic.bench import env as bench


def test_raw_round_replays_the_env_rounds_physics():
    env = bench._make("humanoid", "spinkick")
    try:
        actions, starts = [], []
        _, lengths = bench.env_round(env, 60, np.random.default_rng(0), actions, starts)
        assert len(lengths) > 1 and sum(lengths) == 60  # random actions fall: several episodes
        after_env = np.array(env.world.state_values())
        bench.raw_round(env, lengths, actions[0], starts[0])
        assert np.array_equal(np.array(env.world.state_values()), after_env)
    finally:
        env.close()
