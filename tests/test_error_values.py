"""Error messages show numbers as a user typed them: -0.1, not np.float64(-0.1)."""
import numpy as np
import pytest

from awr_mimic.errors import AwrMimicError, ConfigError, show


def test_show_plain_values():
    assert show(np.float64(-0.1)) == "-0.1"
    assert show(np.float32(0.5)) == "0.5"
    assert show(np.int64(3)) == "3"
    assert show(np.bool_(True)) == "True"
    assert show(np.array([0.5, -0.25])) == "[0.5, -0.25]"
    assert show(np.array([[1, 2], [3, 4]])) == "[[1, 2], [3, 4]]"
    assert show([np.float64(1.5), "a"]) == "[1.5, 'a']"
    assert show((np.int32(1),)) == "(1,)"
    assert show({"k": np.float64(2.0)}) == "{'k': 2.0}"
    assert show("walk") == "'walk'"
    assert show(None) == "None"
    assert show(float("nan")) == "nan"


def test_make_env_start_phase_message():
    from awr_mimic import make_env

    with pytest.raises(ConfigError) as info:
        make_env(character="humanoid", clip="walk", start_phase=np.float64(-0.1))
    assert "-0.1" in str(info.value) and "np." not in str(info.value)


def test_batch_reset_phase_message():
    from awr_mimic.envs.batch import MimicBatch

    batch = MimicBatch(character="humanoid", clip="walk", num_envs=1)
    try:
        with pytest.raises(ConfigError) as info:
            batch.reset(0, np.float64(1.5))
    finally:
        batch.close()
    assert "[1.5]" in str(info.value) and "np." not in str(info.value)


@pytest.mark.parametrize("config, shown", [
    ({"beta": np.float64(-1)}, "-1.0"),
    ({"gamma": np.float64(1.5)}, "1.5"),
    ({"batch_size": np.float64(2.5)}, "2.5"),
    ({"momentum": np.float32(1.0)}, "1.0"),
])
def test_trainer_config_messages(config, shown):
    from awr_mimic import Trainer

    with pytest.raises(ConfigError) as info:
        Trainer("awr", env="CartPole-v1", config=config)
    assert shown in str(info.value) and "np." not in str(info.value)


def test_retarget_vector_message():
    from awr_mimic.anim.retarget import _vec3

    with pytest.raises(AwrMimicError) as info:
        _vec3(np.array([1.0, 2.0]), "offset")
    assert str(info.value) == "offset: expected 3 numbers, got [1.0, 2.0]"
