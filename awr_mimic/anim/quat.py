"""Vectorised quaternion maths, scalar-last (x, y, z, w) as in pybullet and scipy.

Every function takes arrays of shape (..., 4) / (..., 3) and broadcasts, so one
call handles all joints (or all frames) at once.
"""
from __future__ import annotations

import math

import numpy as np

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])

try:  # np.einsum without its Python wrapper (the same function: the wrapper calls it unless optimising)
    from numpy._core.multiarray import c_einsum as einsum
except ImportError:  # pragma: no cover - numpy < 2
    try:
        from numpy.core.multiarray import c_einsum as einsum
    except ImportError:
        einsum = np.einsum


def normalize(q: np.ndarray) -> np.ndarray:
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def conjugate(q: np.ndarray) -> np.ndarray:
    return q * np.array([-1.0, -1.0, -1.0, 1.0])


def multiply(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Hamilton product a * b (apply b, then a), into `out` if given.

    Component by component (x, y, z, w), summed left to right:
        aw bx + ax bw + ay bz - az by,   aw by - ax bz + ay bw + az bx,
        aw bz + ax by - ay bx + az bw,   aw bw - ax bx - ay by - az bz.
    Computed as aw b + ax P1(b) + ay P2(b) + az P3(b), with Pi(b) a signed permutation of b: the
    same numbers (c - d == c + (-d) in IEEE arithmetic) in a handful of whole-array operations.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    terms = a[..., :3, None] * (b[..., _MUL_PERM] * _MUL_SIGN)  # (..., 3, 4): the ax, ay, az terms
    if out is None:
        out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    np.multiply(a[..., 3:], b, out=out)
    out += terms[..., 0, :]
    out += terms[..., 1, :]
    out += terms[..., 2, :]
    return out


_MUL_PERM = np.array([[3, 2, 1, 0], [2, 3, 0, 1], [1, 0, 3, 2]])
_MUL_SIGN = np.array([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0], [-1.0, 1.0, 1.0, -1.0]])


def rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v by unit quaternions q."""
    q = np.asarray(q, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    vx, vy, vz = v[..., 0], v[..., 1], v[..., 2]
    # t = 2 u x v;  v' = v + w t + u x t
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    out = np.empty(np.broadcast_shapes(q.shape[:-1] + (3,), v.shape))
    out[..., 0] = vx + w * tx + y * tz - z * ty
    out[..., 1] = vy + w * ty + z * tx - x * tz
    out[..., 2] = vz + w * tz + x * ty - y * tx
    return out


# ---- fast paths for one quaternion acting on many: plain-float maths, then one matmul


def matrix(q) -> np.ndarray:
    """3x3 rotation matrix of one quaternion: rotate(q, v) == v @ matrix(q).T."""
    x, y, z, w = q.tolist() if isinstance(q, np.ndarray) else map(float, q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def left_matrix(q) -> np.ndarray:
    """4x4 matrix of left multiplication: multiply(q, p) == p @ left_matrix(q).T."""
    x, y, z, w = q.tolist() if isinstance(q, np.ndarray) else map(float, q)
    return np.array([[w, -z, y, x], [z, w, -x, y], [-y, x, w, z], [-x, -y, -z, w]])


def heading(q, up: int) -> float:
    """Yaw about the up axis (1 = y, 2 = z) of one body facing +x."""
    x, y, z, w = q.tolist() if isinstance(q, np.ndarray) else map(float, q)
    fx = 1 - 2 * (y * y + z * z)
    if up == 1:
        return math.atan2(-2 * (x * z - y * w), fx)
    return math.atan2(2 * (x * y + z * w), fx)


def yaw_quat(angle: float, up: int) -> np.ndarray:
    q = np.zeros(4)
    q[up] = math.sin(0.5 * angle)
    q[3] = math.cos(0.5 * angle)
    return q


def from_axis_angle(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    half = 0.5 * np.asarray(angle)[..., None]
    return np.concatenate([np.asarray(axis) * np.sin(half), np.cos(half)], axis=-1)


def from_expmap(e: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Exponential map (axis * angle) to quaternion, into `out` if given."""
    e = np.asarray(e, dtype=np.float64)
    angle = np.sqrt(einsum("...i,...i->...", e, e))
    half = 0.5 * angle
    # sin(x/2)/x -> 1/2 as x -> 0 (a count rather than a min: the ufunc reduce costs more; a NaN
    # angle fails both tests)
    if angle.size and np.count_nonzero(angle > 1e-8) == angle.size:
        scale = np.sin(half)
        scale /= angle
    else:
        scale = np.where(angle > 1e-8, np.sin(half) / np.maximum(angle, 1e-12), 0.5)
    if out is None:
        out = np.empty(e.shape[:-1] + (4,))
    np.multiply(e, scale[..., None], out=out[..., :3])
    np.cos(half, out=out[..., 3])
    return out


def to_expmap(q: np.ndarray) -> np.ndarray:
    """Quaternion to exponential map, taking the shorter rotation (angle in [0, pi])."""
    q = np.where(q[..., 3:4] < 0.0, -q, q)
    sin_half = np.linalg.norm(q[..., :3], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, q[..., 3:4])
    scale = np.where(sin_half > 1e-8, angle / np.maximum(sin_half, 1e-12), 2.0)
    return q[..., :3] * scale


def angle(q: np.ndarray) -> np.ndarray:
    """Rotation angle in [0, pi] of each quaternion."""
    sin_half = np.linalg.norm(q[..., :3], axis=-1)
    return 2.0 * np.arctan2(sin_half, np.abs(q[..., 3]))


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in [0, pi] of the rotation taking a to b."""
    dot = np.abs(np.sum(a * b, axis=-1))
    return 2.0 * np.arccos(np.clip(dot, 0.0, 1.0))


def slerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Spherical interpolation along the shorter arc; t broadcasts against a[..., 0]."""
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.einsum("...i,...i->...", a, b)[..., None]
    sign = np.where(dot < 0.0, -1.0, 1.0)
    dot = np.minimum(dot * sign, 1.0)
    theta = np.arccos(dot)
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6  # nearly equal: lerp is exact enough and avoids 0/0
    safe = np.where(near, 1.0, sin_theta)
    wa = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    wb = np.where(near, t, np.sin(t * theta) / safe) * sign
    out = wa * a + wb * b
    return out / np.sqrt(np.einsum("...i,...i->...", out, out))[..., None]


def make_continuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along `axis` so consecutive quaternions lie in the same hemisphere."""
    q = np.moveaxis(np.array(q, dtype=np.float64), axis, 0)
    for i in range(1, len(q)):
        flip = np.sum(q[i] * q[i - 1], axis=-1) < 0.0
        q[i][flip] *= -1.0
    return np.moveaxis(q, 0, axis)


def angular_velocity(q0: np.ndarray, q1: np.ndarray, dt, local: bool) -> np.ndarray:
    """Constant angular velocity that takes q0 to q1 in dt (the velocity of slerp).

    local=True gives it in the rotating (child) frame, as pybullet reports
    spherical-joint velocities; local=False gives it in the parent/world frame.
    """
    dq = multiply(conjugate(q0), q1) if local else multiply(q1, conjugate(q0))
    return to_expmap(dq) / np.asarray(dt, dtype=np.float64)[..., None]


def yaw_about(q: np.ndarray, up: int) -> np.ndarray:
    """Heading: the yaw angle about the `up` axis (1 = y, 2 = z) of a body facing +x."""
    fwd = rotate(q, np.array([1.0, 0.0, 0.0]))
    if up == 1:
        return np.arctan2(-fwd[..., 2], fwd[..., 0])
    return np.arctan2(fwd[..., 1], fwd[..., 0])


def axis_vector(up: int) -> np.ndarray:
    v = np.zeros(3)
    v[up] = 1.0
    return v


def from_rpy(rpy: np.ndarray) -> np.ndarray:
    """URDF roll-pitch-yaw (fixed axes x, then y, then z) to quaternion."""
    r, p, y = np.moveaxis(np.asarray(rpy, dtype=np.float64), -1, 0)
    qx = from_axis_angle(np.array([1.0, 0, 0]), r)
    qy = from_axis_angle(np.array([0, 1.0, 0]), p)
    qz = from_axis_angle(np.array([0, 0, 1.0]), y)
    return multiply(qz, multiply(qy, qx))


def inverse_heading(q, up: int) -> tuple[np.ndarray, np.ndarray]:
    """Matrices that take world vectors (3x3) and rotations (4x4, left-multiply) into
    the heading frame of one body: v @ m3.T, quats @ m4.T."""
    h = yaw_quat(-heading(q, up), up)
    return matrix(h), left_matrix(h)


def inverse_heading_batch(q: np.ndarray, up: int) -> tuple[np.ndarray, np.ndarray]:
    """inverse_heading for many bodies: (K, 3, 3) and (K, 4, 4) matrices, q is (K, 4)."""
    # The heading's cosine and sine parts (1 - 2(y^2 + z^2) = w^2 + x^2 - y^2 - z^2 and, for y up,
    # 2(xz - yw)) are linear in the products of q's components: one outer product and one matrix
    # product for all K.
    k = len(q)
    products = (q[:, :, None] * q[:, None, :]).reshape(k, 16)
    scale, shift, patterns, fx_sx = _YAW_PATTERNS[up]
    f = products @ fx_sx
    angle = np.arctan2(f[:, 1], f[:, 0])  # minus the heading
    # A yaw's rotation matrix is cos(a) A + sin(a) B + C, and its left-multiplication matrix
    # cos(a/2) D + sin(a/2) E, with constant patterns: one cosine of [a, a - pi/2, a/2, a/2 - pi/2, 0]
    # and one matrix product give both for all K.
    m = np.cos(angle[:, None] * scale - shift) @ patterns
    return m[:, :9].reshape(k, 3, 3), m[:, 9:].reshape(k, 4, 4)


def inverse_heading_floats(quats, up: int) -> tuple[np.ndarray, np.ndarray]:
    """inverse_heading_batch of K quaternions given as Python floats (x, y, z, w): each heading's
    cosines and sines in plain float arithmetic (a few per body, far cheaper than numpy calls on
    K numbers), then one matrix product gives the K matrices."""
    coefs = []
    for x, y, z, w in quats:
        fx = w * w + x * x - y * y - z * z
        sx = 2.0 * (x * z - y * w) if up == 1 else -2.0 * (x * y + z * w)
        a = math.atan2(sx, fx)  # minus the heading
        coefs.append((math.cos(a), math.sin(a), math.cos(0.5 * a), math.sin(0.5 * a), 1.0))
    m = np.array(coefs).dot(_YAW_PATTERNS[up][2])  # dot: matmul's numbers, less call overhead
    k = len(coefs)
    return m[:, :9].reshape(k, 3, 3), m[:, 9:].reshape(k, 4, 4)


def _yaw_patterns(up: int):
    c3 = np.zeros((3, 3))
    c3[up, up] = 1.0
    a3 = matrix(yaw_quat(0.0, up)) - c3
    b3 = matrix(yaw_quat(math.pi / 2, up)) - c3
    d4 = left_matrix(yaw_quat(0.0, up))  # half angle 0: cos part
    e4 = left_matrix(yaw_quat(math.pi, up))  # half angle pi/2: sin part
    # rows: cos a, sin a (= cos(a - pi/2)), cos a/2, sin a/2, 1 (= cos 0); columns: the 3x3 then the 4x4 matrix
    patterns = np.zeros((5, 25))
    patterns[0, :9], patterns[1, :9], patterns[4, :9] = a3.ravel(), b3.ravel(), c3.ravel()
    patterns[2, 9:], patterns[3, 9:] = d4.ravel(), e4.ravel()
    # products q_i q_j (index 4 i + j) -> [fx, minus the heading's sine part]; x, y, z, w = 0..3
    fx_sx = np.zeros((16, 2))
    fx_sx[0, 0], fx_sx[5, 0], fx_sx[10, 0], fx_sx[15, 0] = 1.0, -1.0, -1.0, 1.0  # x^2 - y^2 - z^2 + w^2
    if up == 1:
        fx_sx[2, 1], fx_sx[7, 1] = 2.0, -2.0  # 2 (xz - yw)
    else:
        fx_sx[1, 1] = fx_sx[11, 1] = -2.0  # -2 (xy + zw)
    return np.array([1.0, 1.0, 0.5, 0.5, 0.0]), np.array([0.0, math.pi / 2, 0.0, math.pi / 2, 0.0]), patterns, fx_sx


def matrices(q: np.ndarray) -> np.ndarray:
    """(K, 3, 3) rotation matrices of (K, 4) quaternions."""
    x, y, z, w = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    m = np.empty((len(q), 3, 3))
    m[:, 0, 0] = 1 - 2 * (y * y + z * z)
    m[:, 0, 1] = 2 * (x * y - z * w)
    m[:, 0, 2] = 2 * (x * z + y * w)
    m[:, 1, 0] = 2 * (x * y + z * w)
    m[:, 1, 1] = 1 - 2 * (x * x + z * z)
    m[:, 1, 2] = 2 * (y * z - x * w)
    m[:, 2, 0] = 2 * (x * z - y * w)
    m[:, 2, 1] = 2 * (y * z + x * w)
    m[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return m


def left_matrices(q: np.ndarray) -> np.ndarray:
    """(K, 4, 4) left-multiplication matrices of (K, 4) quaternions (see left_matrix)."""
    x, y, z, w = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack(
        [np.stack([w, -z, y, x], 1), np.stack([z, w, -x, y], 1), np.stack([-y, x, w, z], 1), np.stack([-x, -y, -z, w], 1)],
        axis=1,
    )


_YAW_PATTERNS = {up: _yaw_patterns(up) for up in (1, 2)}
