"""pyulm.nn.vml: torch's vector math is first called on one thread, when a network module is imported.

The failure it prevents (one thread's share of a first parallel tanh less accurate) shows only now and
then, under load; tests/test_cycleulm_curves.py is the test that caught it. Here: the warm-up runs on
import, and every module defining a network runs it or imports a module that does."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

PKG = Path(__file__).resolve().parents[1] / "pyulm"


def test_importing_a_network_module_warms_up_once():
    code = ("import pyulm.nn.vml as v; assert not v._done; import pyulm.nn.models; assert v._done; "
            "v.warm_up(); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def _module_of(path: Path) -> str:
    return ".".join(path.relative_to(PKG.parent).with_suffix("").parts)


def _imported(path: Path, tree) -> set:
    pkg = _module_of(path).rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
            name = (base + "." + node.module if node.module else base) if node.level else node.module
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)
    return out


def test_every_network_module_warms_up():
    trees = {p: ast.parse(p.read_text()) for p in PKG.rglob("*.py")}
    calls = {_module_of(p) for p, t in trees.items()
             if any(isinstance(n, ast.Expr) and isinstance(n.value, ast.Call) and getattr(n.value.func, "id", "") == "warm_up"
                    for n in t.body)}
    networks = [p for p, t in trees.items()
                if any(isinstance(n, ast.ClassDef) and any(ast.unparse(b) == "nn.Module" for b in n.bases) for n in ast.walk(t))]
    assert len(networks) >= 6
    missing = [str(p.relative_to(PKG)) for p in networks if _module_of(p) not in calls and not (_imported(p, trees[p]) & calls)]
    assert not missing, f"define networks without pyulm.nn.vml.warm_up() (call it at import): {missing}"
