"""The push test (`awr-mimic eval --push`): directions follow the heading, the force is held on the root,
0 N is survived and a huge push is not, the JSON keys, and the result saved into a controller's metadata."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import awr_mimic
from awr_mimic.anim import quat
from awr_mimic.cli import main
from awr_mimic.errors import AwrMimicError
from awr_mimic.learning.awr import policy_kwargs
from awr_mimic.learning.checkpoint import list_controllers, load_checkpoint, open_policy
from awr_mimic.learning.networks import policy_weights
from awr_mimic.sampling.push import DIRECTIONS, PushEpisodes, PushSettings, push_direction, push_test, root_link

SHORT = dict(episode_s=3.0, settle_s=0.5, start_phases=(0.1,))
SHORT_ARGS = ["--push-episode", "3", "--push-settle", "0.5", "--push-phases", "0.1", "--workers", "0"]


def _yaw(deg: float, up: int) -> np.ndarray:
    return quat.yaw_quat(math.radians(deg), up)


@pytest.mark.parametrize("up", [1, 2])
def test_directions_follow_the_heading(up):
    x = np.array([1.0, 0.0, 0.0])
    upv = np.eye(3)[up]
    for deg in (0.0, 90.0, -135.0):
        q = _yaw(deg, up)
        fwd = quat.rotate(q, x)
        assert np.allclose(push_direction(q, up, "forward"), fwd)
        assert np.allclose(push_direction(q, up, "backward"), -fwd)
        assert np.allclose(push_direction(q, up, "left"), np.cross(upv, fwd))
        assert np.allclose(push_direction(q, up, "right"), -np.cross(upv, fwd))
    # y up, turned 90° left: forward is -z and left is -x (the humanoid's left hip is on -z at yaw 0)
    if up == 1:
        assert np.allclose(push_direction(_yaw(90, 1), 1, "forward"), [0, 0, -1])
        assert np.allclose(push_direction(_yaw(90, 1), 1, "left"), [-1, 0, 0])
    # a leaning root: only its yaw counts, and the push stays horizontal
    lean = quat.multiply(_yaw(90, up), quat.from_axis_angle(np.eye(3)[3 - up], 0.4))
    for d in DIRECTIONS:
        v = push_direction(lean, up, d)
        assert abs(v[up]) < 1e-12 and math.isclose(np.linalg.norm(v), 1.0)
    assert np.allclose(push_direction(lean, up, "forward"), push_direction(_yaw(90, up), up, "forward"))
    with pytest.raises(AwrMimicError, match="push direction must be one of"):
        push_direction(lean, up, "up")


def test_a_forward_push_speeds_the_root_along_its_heading():
    """The humanoid turned 90°: a 200 N forward push held 0.2 s on the root adds about F t / m to the
    centre-of-mass velocity along the turned heading, and little sideways."""
    env = awr_mimic.make_env(character="humanoid", clip="walk")
    try:
        link = root_link(env.character)
        assert env.character.skeleton.link_names[link] == "root"
        turn = _yaw(90, env.up_axis)

        def com_velocity(force):
            env.reset(options={"phase": 0.1})
            s = env.batch.sim
            env.world.set_state(quat.rotate(turn, s.root_pos[0]), quat.multiply(turn, s.root_quat[0]),
                                quat.rotate(turn, s.root_vel[0]), quat.rotate(turn, s.root_ang_vel[0]),
                                s.joint_quats[0], s.joint_angles[0], s.joint_ang_vels[0], s.joint_angle_vels[0])
            heading = push_direction(quat.multiply(turn, s.root_quat[0]), env.up_axis, "forward")
            if force:
                env.world.hold_force(link, force * heading, 0.2)
            for _ in range(6):  # 0.2 s at 30 Hz
                env.step(env.reference_action())
            assert not env.world.holding_force
            return env.batch.com_vel(env.batch.sim)[0], heading

        v0, heading = com_velocity(0.0)
        v1, _ = com_velocity(200.0)
        assert abs(heading[2] + 1.0) < 0.2  # the clip walks along +x: turned 90° it faces about -z
        dv = v1 - v0
        along = dv @ heading
        expected = 200.0 * 0.2 / 45.0  # 0.89 m/s on the 45 kg humanoid
        assert 0.6 * expected < along < 1.2 * expected
        side = dv - along * heading
        side[env.up_axis] = 0.0
        assert np.linalg.norm(side) < 0.25 * along
    finally:
        env.close()


@pytest.fixture(scope="module")
def walk():
    ck = open_policy("humanoid/walk")
    return ck.env_spec, policy_kwargs(ck.config), policy_weights(ck.policy)


def test_no_push_is_survived_and_a_huge_one_is_not(walk):
    runner = PushEpisodes(*walk, PushSettings(**SHORT))
    try:
        assert runner.survives(0.0, "forward", 0.1)
        assert not runner.survives(5000.0, "forward", 0.1)
        assert not runner.survives(5000.0, "left", 0.1)
    finally:
        runner.close()
    r = push_test(*walk, PushSettings(**SHORT, max_N=5000.0, step_N=5000.0, refine=0, directions=("forward",)),
                  workers=0)
    assert r["forward"] == {"survived_N": 0.0, "failed_N": 5000.0, "failed_phase": 0.1}
    assert r["weakest"] == "forward" and r["link"] == "root" and r["episodes"] == 2


def test_the_grid_stops_at_the_first_fall_and_refines(walk):
    r = push_test(*walk, PushSettings(**SHORT, max_N=4000.0, step_N=2000.0, refine=2, directions=("backward",)),
                  workers=0)["backward"]
    # 2000 N already falls: the interval [0, 2000] is halved twice
    assert r["failed_N"] in (500.0, 1000.0, 1500.0, 2000.0) and r["survived_N"] == r["failed_N"] - 500.0


def test_settings_are_checked_in_one_line():
    for kw, msg in ((dict(start_phases=(0.1, 2)), "start phases"), (dict(settle_s=19.9), "must end within"),
                    (dict(step_N=900.0), "grid step"), (dict(directions=("up",)), "push directions"),
                    (dict(duration_s=0.0), "duration_s must be a positive")):
        with pytest.raises(AwrMimicError, match=msg):
            PushSettings(**kw)


def test_cli_json_keys_and_saving_into_a_controller(tmp_path, monkeypatch, capsys):
    d = tmp_path / "controllers" / "humanoid"
    d.mkdir(parents=True)
    shipped = next(c["path"] for c in list_controllers() if c["name"] == "humanoid/walk")
    import torch

    state = torch.load(shipped, weights_only=True)
    state["metadata"].pop("push", None)  # the shipped file carries its measured push; start unmeasured
    torch.save(state, d / "walk.pt")
    monkeypatch.setenv("AWR_MIMIC_CONTROLLERS", str(tmp_path / "controllers"))
    monkeypatch.chdir(tmp_path)

    assert main(["controllers"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("humanoid/walk"))
    assert "\u2014" in row  # not measured yet

    args = ["eval", "--checkpoint", str(d / "walk.pt"), "--episodes", "0", "--push", *SHORT_ARGS,
            "--push-max", "5000", "--push-step", "5000", "--push-refine", "0", "--push-directions", "forward,left"]
    assert main(args + ["--json", "--save-push"]) == 0
    r = json.loads(capsys.readouterr().out)
    push = r["push"]
    for key in ("duration_s", "start_phases", "settle_s", "episode_s"):
        assert key in push
    assert push["start_phases"] == [0.1] and push["episode_s"] == 3.0 and push["duration_s"] == 0.2
    for direction in ("forward", "left"):
        assert push[direction]["survived_N"] == 0.0 and push[direction]["failed_N"] == 5000.0
    assert "backward" not in push

    import torch

    before, after = (torch.load(x, map_location="cpu", weights_only=True) for x in (shipped, d / "walk.pt"))
    assert set(after) == set(before)  # nothing that loading adds is written back
    meta = load_checkpoint(d / "walk.pt")["metadata"]
    assert meta["push"]["left"]["failed_N"] == 5000.0 and meta["normalized_return"] > 0.9  # the rest kept
    assert main(["controllers"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("humanoid/walk"))
    assert "0 N forward" in row

    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["push", "forward", "survives", "0", "N", "(falls", "at", "5000", "N", "from", "phase",
                              "0.1)"]
    assert main(["eval", "--checkpoint", "humanoid/walk", "--save-push"]) == 2
    assert "add --push" in capsys.readouterr().err
