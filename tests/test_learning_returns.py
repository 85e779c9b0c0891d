import numpy as np
import pytest

from awr_mimic.learning.returns import discounted_returns_reference, td_lambda


def test_td_lambda_hand_computed_truncation_and_failure():
    # gamma 0.9, lambda 0.5, rewards 1,2,3 and V(s_0..s_2) = 10,20,30, two copies of the path:
    # the first truncated (bootstraps from V(s_3) = 40), the second a failure (V(s_3) = 0).
    r = np.array([1, 2, 3, 1, 2, 3], float)
    v = np.array([10, 20, 30, 10, 20, 30], float)
    out = td_lambda(r, v, final_values=np.array([40.0, 0.0]), lengths=np.array([3, 3]), gamma=0.9, lam=0.5)
    # truncated: R2 = 3 + .9*40; R1 = 2 + .9*(.5*30 + .5*R2); R0 = 1 + .9*(.5*20 + .5*R1)
    np.testing.assert_allclose(out[:3], [24.8725, 33.05, 39.0])
    # failure: R2 = 3; R1 = 2 + .9*(15 + 1.5); R0 = 1 + .9*(10 + .5*16.85)
    np.testing.assert_allclose(out[3:], [17.5825, 16.85, 3.0])


def test_td_lambda_matches_per_step_definition_on_ragged_paths():
    rng = np.random.default_rng(0)
    lengths = np.array([1, 7, 3, 12, 2])
    n = lengths.sum()
    r, v, fin = rng.normal(size=n), rng.normal(size=n), rng.normal(size=len(lengths))
    out = td_lambda(r, v, fin, lengths, gamma=0.95, lam=0.8)
    offs = np.concatenate([[0], np.cumsum(lengths)])
    for i in range(len(lengths)):
        a, b = offs[i], offs[i + 1]
        np.testing.assert_allclose(out[a:b], discounted_returns_reference(r[a:b], v[a:b], fin[i], 0.95, 0.8))


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_td_lambda_limits(lam):
    r, v = np.array([1.0, 1.0, 1.0]), np.array([5.0, 6.0, 7.0])
    out = td_lambda(r, v, np.array([8.0]), np.array([3]), gamma=0.5, lam=lam)
    if lam == 0.0:  # one-step TD targets
        np.testing.assert_allclose(out, [1 + 0.5 * 6, 1 + 0.5 * 7, 1 + 0.5 * 8])
    else:  # Monte Carlo with a bootstrap at the end
        np.testing.assert_allclose(out, [1 + 0.5 + 0.25 + 0.125 * 8, 1 + 0.5 + 0.25 * 8, 1 + 0.5 * 8])


def test_td_lambda_groups_paths_by_length(monkeypatch):
    import awr_mimic.learning.returns as R

    rng = np.random.default_rng(2)
    lengths = rng.integers(1, 30, size=40)
    n = lengths.sum()
    r, v, fin = rng.normal(size=n), rng.normal(size=n), rng.normal(size=40)
    whole = td_lambda(r, v, fin, lengths, 0.9, 0.7)
    monkeypatch.setattr(R, "_GRID_CELLS", 64)  # forces many small grids
    np.testing.assert_allclose(td_lambda(r, v, fin, lengths, 0.9, 0.7), whole)
