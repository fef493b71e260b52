"""The shape of the house: arrows point down, and the package imports light."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "grucast"


def imports(path):
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_only_the_cli_imports_typer_and_nothing_imports_click():
    for path in PKG.glob("*.py"):
        names = imports(path)
        assert "click" not in names, path
        if path.name != "cli.py":
            assert "typer" not in names, path


def test_library_modules_do_not_print_or_import_the_cli():
    for path in PKG.glob("*.py"):
        if path.name in ("cli.py", "render.py", "__main__.py"):
            continue
        names = imports(path)
        assert "grucast.cli" not in names and "grucast.render" not in names and "rich" not in names, path
        tree = ast.parse(path.read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
        assert not calls, f"{path.name} prints"


def test_model_imports_nothing_but_torch_config_and_its_kernels():
    names = {n for n in imports(PKG / "model.py") if n.startswith("grucast")}
    assert names <= {"grucast.config", "grucast.kernels"}
    names = {n for n in imports(PKG / "kernels.py") if n.startswith("grucast")}
    assert names <= {"grucast.config", "grucast.errors"}


def test_import_grucast_does_not_import_torch():
    code = "import sys, grucast; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_the_fail_fast_modules_import_nothing_heavy():
    """guards, sniff and terminal run before torch and pandas are imported (a bad file fails in
    a fraction of a second): the standard library and grucast's errors only."""
    for name in ("guards.py", "sniff.py", "terminal.py"):
        names = {n.split(".")[0] for n in imports(PKG / name)}
        assert not names & {"torch", "pandas", "numpy", "rich", "typer", "yaml"}, name
        ours = {n for n in imports(PKG / name) if n.startswith("grucast")}
        assert ours <= {"grucast", "grucast.errors", "grucast.sniff"}, (name, ours)
    code = "import sys, grucast.guards, grucast.terminal; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
