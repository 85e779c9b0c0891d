"""Tiny gymnasium tasks used by the learning tests (importable by sampler workers as
``test_learning_tasks:TestTarget-v0``), and checks of the tasks themselves."""
import gymnasium
import numpy as np
from gymnasium import spaces


class TargetEnv(gymnasium.Env):
    """One-step task: observe x in [-1, 1]^2, reward 1 - |a - x|^2 / 2 (best action a = x).

    Action bounds are [-2, 2], so the policy's normalised action is a / 2.
    """

    observation_space = spaces.Box(-1, 1, (2,), np.float32)
    action_space = spaces.Box(-2, 2, (2,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return self.x.copy(), {}

    def step(self, a):
        r = 1.0 - 0.5 * float(np.sum((np.asarray(a) - self.x) ** 2))
        info = {"reward_terms": {"target": r}, "joint_angle_error": float(np.abs(a - self.x).mean())}
        return self.x.copy(), r, False, True, info


class ChainEnv(gymnasium.Env):
    """A few steps; failure when the action sign disagrees with the observation's sign."""

    observation_space = spaces.Box(-1, 1, (3,), np.float32)
    action_space = spaces.Discrete(2)
    horizon_steps = 8

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.s = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        return self.s, {}

    def step(self, a):
        self.t += 1
        ok = int(self.s[0] > 0) == int(a)
        self.s = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        return self.s, 1.0 if ok else 0.0, not ok, self.t >= self.horizon_steps, {}


for _id, _cls in (("TestTarget-v0", TargetEnv), ("TestChain-v0", ChainEnv)):
    if _id not in gymnasium.registry:
        gymnasium.register(_id, entry_point=_cls)

TARGET = "test_learning_tasks:TestTarget-v0"
CHAIN = "test_learning_tasks:TestChain-v0"


def test_target_task_rewards_the_observation():
    env = TargetEnv()
    x, _ = env.reset(seed=0)
    assert env.step(x)[1] == 1.0
    assert env.step(x + 1)[1] == 0.0


def test_chain_task_fails_on_the_wrong_sign():
    env = ChainEnv()
    s, _ = env.reset(seed=0)
    _, r, term, trunc, _ = env.step(int(s[0] <= 0))
    assert (r, term, trunc) == (0.0, True, False)
