"""The house rules of solver/, checked on the source: no import circle, the CLI imported by nothing outside it,
domain entities free of I/O, modules small, every package shipped."""

from __future__ import annotations

import ast
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
SOLVER = ROOT / "solver"
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """Modules imported when `path` is imported (module level, not inside functions or TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SOLVER.rglob("*.py")}
    return {name: {m for m in top_level_imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_no_import_circles():
    edges = graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            assert state.get(nxt) != 1, "import circle: " + " -> ".join(trail + [node, nxt])
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])


def all_imports(path: Path) -> set[str]:
    return {n.module for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom) and n.module} | \
        {a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import) for a in n.names}


def test_cli_is_imported_by_nothing_and_its_commands_only_share_common():
    for path in SOLVER.rglob("*.py"):
        name = module_name(path)
        cli_imports = {m for m in all_imports(path) if m.startswith("solver.cli")}
        if name in ("solver", "solver.__main__"):  # the entry points: run_cli and `python -m solver`
            continue
        if not name.startswith("solver.cli"):
            assert not cli_imports, f"{name} imports the CLI: {cli_imports}"
        elif name not in ("solver.cli", "solver.cli.common", "solver.cli.options"):
            assert cli_imports <= {"solver.cli.common", "solver.cli.options"}, \
                f"{name} uses another command as a library: {cli_imports}"


def test_domain_entities_do_no_io():
    allowed = ("solver.domain", "pydantic", "numpy", "__future__", "typing", "dataclasses", "math", "pathlib",
               "enum", "collections.abc")
    for path in (SOLVER / "domain").glob("*.py"):
        for module in all_imports(path):
            assert module.startswith(allowed), f"{module_name(path)} imports {module}"


def test_no_module_over_the_size_limit():
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in SOLVER.rglob("*.py")}
    assert max(sizes.values()) <= MAX_LINES, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_every_package_is_listed_for_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(p) for p in SOLVER.rglob("__init__.py")}
    assert found <= listed, f"add to pyproject's packages: {sorted(found - listed)}"
