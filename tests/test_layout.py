"""The shape of the house: packages by job, imports pointing one way, the CLI the only one
that talks to a terminal, and the modules that run before torch importing nothing heavy."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "grucast"

# Lowest first. A module may import grucast modules of its own layer's package and of lower
# layers only; packages that share a layer (training, evaluation) do not import each other.
# ops sits low, below torch: the CLI takes locks and checks paths before torch is imported.
LAYERS = [
    ["grucast.errors", "grucast.files"],
    ["grucast.config"],
    ["grucast.data"],
    ["grucast.ops"],
    ["grucast.features"],
    ["grucast.models"],
    ["grucast.checkpoint"],
    ["grucast.training", "grucast.evaluation", "grucast.plot"],
    ["grucast.workflows"],
    ["grucast.api"],
    ["grucast.cli"],
    ["grucast.__main__"],
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
HEAVY = {"torch", "pandas", "numpy", "rich", "typer", "yaml"}


def modules():
    for path in sorted(PKG.rglob("*.py")):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def unit_of(module):
    """The package (or top-level module) of a module: its place in LAYERS."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def imports(path):
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            if node.module == "grucast":  # from grucast import api: the submodule itself
                out |= {f"grucast.{a.name}" for a in node.names if a.name != "__version__"}
    return out


def test_every_module_has_a_place_in_the_layers():
    for name, path in modules():
        if name != "grucast":
            assert unit_of(name) in RANK, f"{path}: add its package to LAYERS in tests/test_layout.py"


def test_imports_point_down():
    bad = []
    for name, path in modules():
        if name == "grucast":
            continue
        mine = unit_of(name)
        for target in imports(path):
            if not target.startswith("grucast.") or unit_of(target) == mine:
                continue
            theirs = unit_of(target)
            if RANK[theirs] >= RANK[mine]:
                bad.append(f"{name} imports {target} ({theirs} is not below {mine})")
    assert not bad, "\n".join(bad)


def test_package_init_imports_nothing_heavy():
    code = "import sys, grucast; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


@pytest.mark.parametrize("package", ["grucast.data", "grucast.config", "grucast.ops", "grucast.errors"])
def test_data_config_and_ops_never_import_torch(package):
    for name, path in modules():
        if unit_of(name) == package:
            assert not {n.split(".")[0] for n in imports(path)} & {"torch", "rich", "typer"}, path


def test_only_the_cli_imports_typer_or_rich_and_nothing_imports_click_or_prints():
    for name, path in modules():
        names = {n.split(".")[0] for n in imports(path)}
        assert "click" not in names, path
        if unit_of(name) in ("grucast.cli", "grucast.__main__"):
            continue
        assert not names & {"typer", "rich"}, path
        calls = [n for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
        assert not calls, f"{path} prints"


def test_the_network_imports_nothing_but_torch_its_config_sizes_and_kernels():
    ours = {n for n in imports(PKG / "models" / "network.py") if n.startswith("grucast")}
    assert ours <= {"grucast.config.settings", "grucast.features.spec", "grucast.models.kernels"}
    ours = {n for n in imports(PKG / "models" / "kernels.py") if n.startswith("grucast")}
    assert ours <= {"grucast.config.settings", "grucast.errors"}


FAIL_FAST = ["ops/paths.py", "ops/locks.py", "ops/publish.py", "ops/preflight.py", "data/sniff.py", "cli/terminal.py"]


def test_the_fail_fast_modules_import_nothing_heavy():
    """They run before torch and pandas are imported (a bad path or file fails in a fraction of
    a second): the standard library and grucast's own light modules only."""
    for name in FAIL_FAST:
        names = {n.split(".")[0] for n in imports(PKG / name)}
        assert not names & HEAVY, name
    code = ("import sys, grucast.ops.paths, grucast.ops.locks, grucast.ops.publish, grucast.ops.preflight, "
            "grucast.cli.terminal; print('torch' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
