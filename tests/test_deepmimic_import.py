"""DeepMimic character files -> URDF: checked on the humanoid against pybullet_data, then the dog."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pybullet_data
import pytest

from awr_mimic.characters import get_character
from awr_mimic.characters.character import p, quiet_stdout
from awr_mimic.characters.deepmimic_import import import_character, read_character
from awr_mimic.errors import AwrMimicError

REPO = Path(__file__).resolve().parents[1]
DEEPMIMIC = REPO.parent / "shared" / "data" / "deepmimic"
needs_shared = pytest.mark.skipif(
    not DEEPMIMIC.is_dir(), reason=f"DeepMimic's character files are not here ({DEEPMIMIC}); CI has ../shared"
)
DOG_OPTIONS = dict(name="dog", default_clip="walk", allow_contact=("left_hand", "right_hand", "left_foot", "right_foot"),
                   self_collision=False, min_inertia=0.003)


def _random_joint_values(body, client, rng):
    values = []
    for j in range(p.getNumJoints(body, physicsClientId=client)):
        kind = p.getJointInfo(body, j, physicsClientId=client)[2]
        if kind == p.JOINT_SPHERICAL:
            q = rng.normal(size=4)
            values.append((j, list(q / np.linalg.norm(q))))
        elif kind == p.JOINT_REVOLUTE:
            values.append((j, [rng.uniform(-1.5, 1.5)]))
    return values


@needs_shared
def test_generated_humanoid_matches_pybullet_humanoid_link_positions(tmp_path):
    urdf, _, _ = import_character(DEEPMIMIC / "characters/humanoid3d.txt", DEEPMIMIC / "controllers/humanoid3d_ctrl.txt",
                                  tmp_path, name="h3d")
    with quiet_stdout():
        client = p.connect(p.DIRECT)
        ours = p.loadURDF(str(urdf), flags=p.URDF_MAINTAIN_LINK_ORDER, physicsClientId=client)
        theirs = p.loadURDF(pybullet_data.getDataPath() + "/humanoid/humanoid.urdf", globalScaling=0.25,
                            flags=p.URDF_MAINTAIN_LINK_ORDER, physicsClientId=client)
    try:
        n = p.getNumJoints(theirs, physicsClientId=client)
        assert p.getNumJoints(ours, physicsClientId=client) == n == 15
        rng = np.random.default_rng(0)
        for _ in range(5):
            pos, q = rng.normal(size=3), rng.normal(size=4)
            values = _random_joint_values(ours, client, rng)
            for body in (ours, theirs):
                p.resetBasePositionAndOrientation(body, pos, q / np.linalg.norm(q), physicsClientId=client)
                for j, v in values:
                    p.resetJointStateMultiDof(body, j, v, physicsClientId=client)
            for j in range(n):
                a = p.getLinkState(ours, j, computeForwardKinematics=1, physicsClientId=client)
                b = p.getLinkState(theirs, j, computeForwardKinematics=1, physicsClientId=client)
                assert np.abs(np.subtract(a[4], b[4])).max() < 1e-5  # link frames
                assert np.abs(np.subtract(a[0], b[0])).max() < 1e-5  # centres of mass
                assert p.getDynamicsInfo(ours, j, physicsClientId=client)[0] == pytest.approx(
                    p.getDynamicsInfo(theirs, j, physicsClientId=client)[0])
    finally:
        p.disconnect(client)


def test_dog_has_64_dof_and_weighs_29_25_kg():
    dog = get_character("dog")
    assert 6 + dog.layout.action_size == 64
    assert dog.layout.action_size == 58
    assert dog.skeleton.num_links == 23
    assert dog.skeleton.total_mass == pytest.approx(29.25, abs=1e-3)  # + the 0.1 g dummy base
    assert dog.end_effectors == ("left_finger", "right_finger", "left_toe", "right_toe")


@needs_shared
def test_committed_dog_is_what_the_importer_writes(tmp_path):
    urdf, toml, character = import_character(DEEPMIMIC / "characters/dog3d.txt", DEEPMIMIC / "controllers/dog3d_ctrl.txt",
                                             tmp_path, **DOG_OPTIONS)
    assert character.num_dofs == 64 and character.total_mass == pytest.approx(29.25)
    assert urdf.read_text() == (REPO / "assets/dog.urdf").read_text()
    body = [line for line in (REPO / "assets/dog.toml").read_text().splitlines() if not line.startswith("#")]
    assert [line for line in toml.read_text().splitlines() if not line.startswith("#")] == body


@needs_shared
def test_cli_import_writes_urdf_and_toml(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "awr_mimic", "character", "import", str(DEEPMIMIC / "characters/dog3d.txt"),
         "--ctrl", str(DEEPMIMIC / "controllers/dog3d_ctrl.txt"), "--out", str(tmp_path), "--name", "mydog"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "64 DoF" in out.stdout and "29.25 kg" in out.stdout
    assert (tmp_path / "mydog.urdf").is_file() and (tmp_path / "mydog.toml").is_file()
    mydog = get_character(str(tmp_path / "mydog.toml"))
    assert mydog.skeleton.total_mass == pytest.approx(29.25, abs=1e-3)


def test_bad_character_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("{not json")
    with pytest.raises(AwrMimicError, match="malformed JSON"):
        read_character(bad)
    bad.write_text('{"Skeleton": {}}')
    with pytest.raises(AwrMimicError, match="not a DeepMimic character"):
        read_character(bad)
    with pytest.raises(AwrMimicError, match="no such character file"):
        read_character(tmp_path / "missing.txt")
