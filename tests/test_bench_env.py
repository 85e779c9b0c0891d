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


def test_segments_split_a_step_into_parts_that_add_up():
    g = bench.segments("humanoid", "spinkick", None, 60)
    parts = g["segments_us"]
    assert set(parts) == {label for label, _, _ in bench.SEGMENTS} | {"other (the rest of the step)"}
    # every timed part ran (random actions fall within 60 steps, so resets and refills happen too)
    assert all(parts[label] > 0 for label, _, _ in bench.SEGMENTS)
    assert abs(sum(parts.values()) - g["total_us"]) < 1e-6 * g["total_us"]
    physics = parts["physics (stable PD + stepSimulation)"]
    assert 0 < g["physics_share"] < 1 and abs(g["overhead_us"] - (g["total_us"] - physics)) < 1e-9


def test_segments_leave_the_env_classes_unwrapped():
    from awr_mimic.envs import batch, world
    from awr_mimic.envs.batch import MimicBatch

    before = (batch.heading_frame, MimicBatch._read, world.World.step_physics)
    bench.segments("humanoid", "walk", None, 5)
    assert (batch.heading_frame, MimicBatch._read, world.World.step_physics) == before
