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

    # Right-align the paths in a (P, Tmax) grid so one backward scan over columns
    # handles every path at once; left padding is never read back.
    tmax = int(lengths.max())
    path_of = np.repeat(np.arange(p), lengths)
    col = np.arange(n) - np.repeat(ends - lengths, lengths) + (tmax - np.repeat(lengths, lengths))
    grid = np.zeros((tmax, p))  # column-major scan: contiguous rows
    grid[col, path_of] = x
    carry = np.asarray(final_values, np.float64).copy()
    gl = gamma * lam
    for t in range(tmax - 1, -1, -1):
        carry = grid[t] + gl * carry
        grid[t] = carry
    return grid[col, path_of]


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
