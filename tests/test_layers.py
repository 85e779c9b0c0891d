"""Each folder is a layer that imports only the layers above it (docs/architecture.md)."""
import ast
from pathlib import Path

import awr_mimic

PACKAGE = Path(awr_mimic.__file__).resolve().parent
ORDER = ["anim", "characters", "envs", "learning", "sampling", "cli", "bench"]
# learning is generic: it works on any gymnasium env and never needs ours
FORBIDDEN_EXTRA = {"learning": {"anim", "characters", "envs"}}
# the documented exception: the training loop and datasets use the sampler and PathBatch
ALLOWED_BELOW = {("learning/trainer.py", "sampling"), ("learning/dataset.py", "sampling")}
# the documented exception: what a checkpoint may store for the imitation env is a registered
# character and clip name, so the spec and the checkpoint validator ask the clip registry (lazily,
# only for awr_mimic/Mimic-v0 specs; other envs never import it)
ALLOWED_EXTRA = {("learning/envspec.py", "characters"), ("learning/untrusted.py", "characters")}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):  # includes imports inside functions
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno


def test_layers_import_only_upwards():
    bad = []
    for layer in ORDER:
        rank = ORDER.index(layer)
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            rel = path.relative_to(PACKAGE).as_posix()
            for module, line in _imports(path):
                parts = module.split(".")
                if parts[0] == "awr_mimic_viewer" and layer != "cli":  # view/render/export commands launch it
                    bad.append(f"{rel}:{line} imports the viewer")
                if parts[0] != "awr_mimic" or len(parts) < 2 or parts[1] not in ORDER or parts[1] == layer:
                    continue
                target = parts[1]
                below = ORDER.index(target) > rank and (layer, target) != ("cli", "bench")
                if (below and (rel, target) not in ALLOWED_BELOW) or (target in FORBIDDEN_EXTRA.get(layer, ()) and (rel, target) not in ALLOWED_EXTRA):
                    bad.append(f"{rel}:{line} imports {module}")
    assert not bad, "\n".join(bad)
