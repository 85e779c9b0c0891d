"""A trained policy as an ONNX model: raw observation in, deterministic env action out.

The graph is written node by node with ``onnx.helper`` from the policy's
weights (observation normaliser, MLP, action mapping), not traced with
``torch.onnx.export``: torch's TorchScript exporter is deprecated and its
dynamo exporter needs ``onnxscript``, while this needs only ``onnx`` and is
the same on every torch version. Every export is checked against the torch
policy with onnxruntime before the file is written (:func:`export_onnx`).

Contract of the model (docs/deploy.md):

- input ``obs``: float32 (N, obs_dim), the raw env observation; N is dynamic.
  The graph normalises it with the policy's ``obs_norm`` mean/std and clips the
  result to ±``obs_clip`` (when the run used a clip), exactly as the policy does.
- Box actions: output ``action``, float32 (N, act_dim), what ``awr-mimic eval``
  passes to ``env.step``: the Gaussian mean mapped from normalised units to env
  units (``centre + half_range * a`` where both bounds are finite, ``a``
  otherwise) and clipped to the Box (``SpaceInfo.to_env_action``).
- Discrete actions: output ``action``, int64 (N,), the argmax of the logits
  (the deterministic action), and a second output ``logits``, float32 (N, n).

This module is part of the generic learning layer: it never imports the envs;
observations to check parity on are passed in.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from awr_mimic.errors import AwrMimicError

OPSET = 17  # every onnxruntime >= 1.13 runs it
IR_VERSION = 8  # the IR version of opset 17: older runtimes refuse newer IR versions
TOLERANCE = 1e-4
INSTALL_HINT = 'pip install "awr-mimic[onnx]"'


def require_onnx() -> None:
    """One line, not a traceback, when onnx or onnxruntime is missing."""
    missing = []
    for name in ("onnx", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise AwrMimicError(f"ONNX export needs onnx and onnxruntime: {INSTALL_HINT}")


def _action_mapping(space) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(centre, half, low, high) of SpaceInfo.to_env_action, as float64 arrays."""
    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    finite = np.isfinite(low) & np.isfinite(high)
    centre = np.where(finite, (low + high) / 2, 0.0)
    half = np.where(finite, (high - low) / 2, 1.0)
    return centre, half, low, high


def policy_to_onnx(policy, metadata: dict | None = None):
    """The policy as an ``onnx.ModelProto`` (see the module docstring for the contract)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    space = policy.space
    nodes, inits = [], []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    norm = policy.obs_norm
    x = node("Sub", ["obs", const("obs_mean", norm.mean.detach().cpu().numpy())], "obs_centred")
    x = node("Div", [x, const("obs_std", norm.std.detach().cpu().numpy())], "obs_normalised")
    if norm.clip > 0:
        x = node("Clip", [x, const("obs_clip_low", -norm.clip), const("obs_clip_high", norm.clip)], "obs_clipped")

    n_linear = 0
    for i, layer in enumerate(policy.net):
        if isinstance(layer, nn.Linear):
            w = layer.weight.detach().cpu().numpy()
            b = layer.bias.detach().cpu().numpy() if layer.bias is not None else np.zeros(w.shape[0], np.float32)
            x = node("Gemm", [x, const(f"net.{i}.weight", w), const(f"net.{i}.bias", b)], f"net.{i}", transB=1)
            n_linear += 1
        elif isinstance(layer, nn.ReLU):
            x = node("Relu", [x], f"net.{i}")
        else:
            raise AwrMimicError(f"ONNX export does not know the policy layer {type(layer).__name__} "
                                f"(net.{i}); it handles Linear and ReLU")
    if n_linear == 0:
        raise AwrMimicError("ONNX export: the policy network has no Linear layer")

    batch = "batch"
    inputs = [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [batch, space.obs_dim])]
    if space.discrete:
        logits = node("Identity", [x], "logits")
        node("ArgMax", [logits], "action", axis=1, keepdims=0, select_last_index=0)
        outputs = [helper.make_tensor_value_info("action", TensorProto.INT64, [batch]),
                   helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, space.act_dim])]
    else:
        centre, half, low, high = _action_mapping(space)
        if not (np.all(half == 1.0) and np.all(centre == 0.0)):
            x = node("Mul", [x, const("action_half_range", half)], "action_scaled")
            x = node("Add", [x, const("action_centre", centre)], "action_unclipped")
        if np.isfinite(low).any():
            x = node("Max", [x, const("action_low", low)], "action_above_low")
        if np.isfinite(high).any():
            x = node("Min", [x, const("action_high", high)], "action_below_high")
        node("Identity", [x], "action")
        outputs = [helper.make_tensor_value_info("action", TensorProto.FLOAT, [batch, space.act_dim])]

    graph = helper.make_graph(nodes, "awr_mimic_policy", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="awr-mimic", ir_version=IR_VERSION)
    model.doc_string = ("awr-mimic policy: raw observation 'obs' (N, obs_dim) float32 -> deterministic env "
                        "action 'action' " + ("(N,) int64" if space.discrete else "(N, act_dim) float32"))
    meta = {"obs_dim": space.obs_dim, "act_dim": space.act_dim, "discrete": space.discrete,
            "obs_clip": norm.clip, **(metadata or {})}
    if not space.discrete:
        meta["action_low"], meta["action_high"] = list(space.low), list(space.high)
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = str(k), str(v)
    onnx.checker.check_model(model)
    return model


@torch.no_grad()
def torch_env_actions(policy, obs: np.ndarray) -> np.ndarray:
    """What ``awr-mimic eval`` passes to ``env.step`` for each observation (the parity reference).

    Box: the mean, float32 as the rollouts store it, through ``SpaceInfo.to_env_action``
    (float64 arithmetic, clipped, float32). Discrete: the argmax of the logits, int64.
    """
    out = policy(torch.as_tensor(np.asarray(obs, np.float32))).numpy()
    if policy.space.discrete:
        return np.argmax(out.astype(np.float64), axis=-1).astype(np.int64)
    mean = out.astype(np.float64).astype(np.float32)
    return policy.space.to_env_action(mean)  # elementwise: a batch maps row by row


@torch.no_grad()
def torch_logits(policy, obs: np.ndarray) -> np.ndarray:
    return policy(torch.as_tensor(np.asarray(obs, np.float32))).numpy()


def random_observations(policy, n: int, rng: np.random.Generator) -> np.ndarray:
    """Observations around the normaliser's statistics, half of them far enough out to hit the clip."""
    mean = policy.obs_norm.mean.detach().cpu().numpy().astype(np.float64)
    std = policy.obs_norm.std.detach().cpu().numpy().astype(np.float64)
    scale = np.where(np.arange(n) % 2 == 0, 1.0, 4.0)[:, None]
    return (mean + std * scale * rng.standard_normal((n, len(mean)))).astype(np.float32)


def session(model_bytes: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def parity(policy, sess, obs: np.ndarray) -> float:
    """max |onnx - torch| over `obs`: env actions for Box, logits for Discrete (whose argmax must match)."""
    obs = np.asarray(obs, np.float32)
    got = sess.run(None, {"obs": obs})
    if policy.space.discrete:
        diff = float(np.max(np.abs(got[1] - torch_logits(policy, obs)))) if len(obs) else 0.0
        want = torch_env_actions(policy, obs)
        if not np.array_equal(got[0], want):  # a different action: report it as a difference >= 1
            return max(diff, float(np.max(np.abs(got[0] - want))))
        return diff
    return float(np.max(np.abs(got[0] - torch_env_actions(policy, obs)))) if len(obs) else 0.0


def export_onnx(policy, out, observations: np.ndarray, *, metadata: dict | None = None,
                tolerance: float = TOLERANCE) -> dict:
    """Write `policy` to `out` as ONNX after checking it against torch on `observations`.

    Returns ``{"path", "bytes", "obs_dim", "act_dim", "discrete", "max_abs_diff", "observations"}``.
    Nothing is written when onnxruntime's actions differ from torch's by more than `tolerance`.
    """
    require_onnx()
    from awr_mimic.learning.checkpoint import atomic_write

    observations = np.asarray(observations, np.float32)
    space = policy.space
    if observations.ndim != 2 or observations.shape[1] != space.obs_dim:
        raise AwrMimicError(f"parity observations must be (N, {space.obs_dim}), got {observations.shape}")
    if len(observations) == 0:
        raise AwrMimicError("ONNX export needs at least one observation to check parity on")
    policy = policy.cpu().eval()
    data = policy_to_onnx(policy, metadata).SerializeToString()
    sess = session(data)
    diff = parity(policy, sess, observations)
    if not diff <= tolerance:  # also catches NaN
        raise AwrMimicError(f"ONNX export: max |onnx - torch| = {diff:.3g} over {len(observations)} observations "
                            f"exceeds {tolerance:g}; {out} not written")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(data))
    return {"path": str(out), "bytes": len(data), "obs_dim": space.obs_dim, "act_dim": space.act_dim,
            "discrete": space.discrete, "max_abs_diff": diff, "observations": len(observations)}
