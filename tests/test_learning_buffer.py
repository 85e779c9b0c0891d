import numpy as np
import pytest

from awr_mimic.errors import ConfigError
from awr_mimic.learning.buffer import PathBuffer


def _path(T, tag_value, obs_dim=2):
    obs = np.full((T, obs_dim), tag_value, np.float32)
    return obs, np.full((T, 1), tag_value, np.float32), np.full(T, tag_value, np.float32), \
        np.full(obs_dim, -tag_value, np.float32)


def test_fifo_wraparound_evicts_oldest_whole_paths():
    buf = PathBuffer(capacity=20, obs_dim=2, act_dim=1)
    for k, T in enumerate([5, 5, 5]):  # rows 0-5, 6-11, 12-17
        buf.add_path(*_path(T, k + 1), terminated=False, tag=k + 1)
    assert len(buf) == 15 and buf.num_paths == 3 and buf.head == 18
    # 6 more rows do not fit at the tail (18 + 6 > 20): jump to 0, evicting path 1 (rows 0-5)
    buf.add_path(*_path(5, 4), terminated=True, tag=4)
    assert [p[3] for p in buf.paths] == [2, 3, 4]
    assert buf.paths[-1][0] == 0 and len(buf) == 15
    # next path at 6 overlaps path 2 (6-11); path 3 survives
    buf.add_path(*_path(3, 5), terminated=False, tag=5)
    assert [p[3] for p in buf.paths] == [3, 4, 5]
    ix = buf.index()
    # samples come oldest path first and point at the right rows
    np.testing.assert_array_equal(buf.rew[ix["rows"]], [3] * 5 + [4] * 5 + [5] * 3)
    np.testing.assert_array_equal(ix["terminated"], [False, True, False])
    np.testing.assert_array_equal(buf.obs[ix["end_rows"], 0], [-3, -4, -5])  # final observations


def test_wrap_evicts_older_tail_paths_first():
    buf = PathBuffer(capacity=10, obs_dim=2, act_dim=1)
    buf.add_path(*_path(3, 1), terminated=False, tag=1)  # rows 0-3
    buf.add_path(*_path(3, 2), terminated=False, tag=2)  # rows 4-7
    buf.add_path(*_path(4, 3), terminated=False, tag=3)  # does not fit at 8: rows 0-4, evicts 1 and 2
    assert [p[3] for p in buf.paths] == [3] and len(buf) == 4


def test_path_longer_than_buffer_is_a_config_error():
    buf = PathBuffer(capacity=4, obs_dim=2, act_dim=1)
    with pytest.raises(ConfigError, match="buffer_size"):
        buf.add_path(*_path(4, 1), terminated=False)


def test_buffer_state_round_trip():
    rng = np.random.default_rng(1)
    buf = PathBuffer(capacity=30, obs_dim=2, act_dim=1)
    store = {}
    for k in range(8):
        T = int(rng.integers(1, 7))
        p = (rng.normal(size=(T, 2)).astype(np.float32), rng.normal(size=(T, 1)).astype(np.float32),
             rng.normal(size=T).astype(np.float32), rng.normal(size=2).astype(np.float32))
        store[k] = p
        buf.add_path(*p, terminated=bool(k % 2), tag=k)
    buf.val[:] = rng.normal(size=30)
    state = buf.state_dict()
    other = PathBuffer(capacity=30, obs_dim=2, act_dim=1)
    other.load_state(state, lambda tag: store[tag])
    for key in ("rows", "lengths", "terminated", "end_rows"):
        np.testing.assert_array_equal(other.index()[key], buf.index()[key])
    rows = buf.path_rows()
    np.testing.assert_array_equal(other.obs[rows], buf.obs[rows])
    np.testing.assert_array_equal(other.val, buf.val)
    assert other.head == buf.head and len(other) == len(buf)
