"""TD(lambda) returns over stored paths, vectorised across paths.

    R_t = r_t + gamma * ((1 - lambda) * V(s_{t+1}) + lambda * R_{t+1}),   R_T = V(s_T)

with V(s_T) = 0 when the path ended in failure and the critic's value when it
was truncated (time limit). lambda = 1 gives Monte Carlo returns that still
bootstrap at truncations.
"""
from __future__ import annotations

import numpy as np


def td_lambda(rewards: np.ndarray, values: np.ndarray, final_values: np.ndarray, lengths: np.ndarray,
              gamma: float, lam: float) -> np.ndarray:
    """TD(lambda) returns for paths concatenated back to back.

    rewards, values: (N,) per step (values[t] = V(s_t)); final_values: (P,) = V(s_T) per path
    (0 for failures); lengths: (P,) with sum N. Returns (N,) float64.
    """
    lengths = np.asarray(lengths, np.int64)
    n, p = int(lengths.sum()), len(lengths)
    if n == 0:
        return np.zeros(0)
    rewards = np.asarray(rewards, np.float64)
    values = np.asarray(values, np.float64)
    ends = np.cumsum(lengths)  # exclusive end of each path
    # V(s_{t+1}) within the path; the last step of each path sees the final value
    next_v = np.empty(n)
    next_v[:-1] = values[1:]
    next_v[ends - 1] = final_values
    x = rewards + gamma * (1.0 - lam) * next_v

    out = np.empty(n)
    starts = ends - lengths
    # Paths of similar length share a grid: sorting by length bounds the padding, so a buffer with
    # thousands of 1-step failures and a few 600-step paths does not make a huge grid.
    order = np.argsort(lengths, kind="stable")
    i = 0
    while i < p:
        j = i + 1
        while j < p and lengths[order[j]] * (j + 1 - i) <= _GRID_CELLS:
            j += 1
        grp = order[i:j]
        _scan(x, out, np.asarray(final_values, np.float64)[grp], starts[grp], lengths[grp], gamma * lam)
        i = j
    return out


_GRID_CELLS = 1 << 22


def _scan(x, out, final, starts, lengths, gl):
    """Backward scan of one group: paths right-aligned in a (Tmax, P) grid."""
    p, tmax = len(lengths), int(lengths.max())
    path_of = np.repeat(np.arange(p), lengths)
    offs = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    within = np.arange(int(lengths.sum())) - np.repeat(offs, lengths)
    src = np.repeat(starts, lengths) + within
    col = within + np.repeat(tmax - lengths, lengths)
    grid = np.zeros((tmax, p))
    grid[col, path_of] = x[src]
    carry = final.copy()
    for t in range(tmax - 1, -1, -1):  # left padding is never read back
        carry = grid[t] + gl * carry
        grid[t] = carry
    out[src] = grid[col, path_of]


def discounted_returns_reference(rewards, values, final_value, gamma, lam):
    """Per-step loop for one path (slow; the definition, used by tests)."""
    T = len(rewards)
    out = np.zeros(T)
    nxt = final_value
    for t in reversed(range(T)):
        v_next = values[t + 1] if t + 1 < T else final_value
        nxt = rewards[t] + gamma * ((1 - lam) * v_next + lam * nxt)
        out[t] = nxt
    return out
