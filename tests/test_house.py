"""The house rules of the package: no import cycle between its modules, and no module over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tbactviz"
MAX_LINES = 400
# Being rewritten on other branches right now (the probe redesign and the CLI split); the lead removes this
# list when they are merged.
BEING_RESHAPED: set[str] = set()


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name below ``tbactviz`` (``logger``, ``cli.parser``, ...)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]  # a subpackage is its __init__
        out[".".join(parts)] = path
    return out


def _resolve(target: str, names: set[str]) -> str | None:
    """The longest module of ``names`` that ``target`` (a dotted name below tbactviz) is or lies in."""
    parts = target.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in names:
            return ".".join(parts[:k])
    return None


def imports_of(name: str, path: Path, names: set[str]) -> set[str]:
    """The package modules ``path`` imports, anywhere in it (also inside functions and TYPE_CHECKING)."""
    found: set[str] = set()
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.split(".")[0] == "tbactviz":
                module = node.module.partition(".")[2]
            else:
                continue
            if not module:  # from tbactviz import naming, ActivationLogger
                targets += [a.name if a.name in names else "__init__" for a in node.names]
            else:
                targets += [f"{module}.{a.name}" for a in node.names] + [module]
        elif isinstance(node, ast.Import):
            targets += [
                a.name.partition(".")[2] or "__init__"
                for a in node.names
                if a.name.split(".")[0] == "tbactviz"
            ]
        for target in targets:
            hit = _resolve(target, names) if target != "__init__" else "__init__"
            if hit is not None:
                found.add(hit)
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_graph_reads_every_kind_of_import() -> None:
    graph = import_graph()
    assert {"extract", "layers", "capture"} <= graph["logger"] | graph["extract"]
    assert "cli" in graph["__main__"]


def test_modules_import_each_other_without_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(reason="being reshaped on another branch", strict=False)]
            if name in BEING_RESHAPED
            else [],
        )
        for name in modules()
    ],
)
def test_no_module_is_over_400_lines(name: str) -> None:
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"tbactviz/{name}.py has {lines} lines (at most {MAX_LINES})"


def test_links_in_the_readme_and_docs_resolve_inside_the_repository() -> None:
    import re

    root = PACKAGE.parent
    for document in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        text = document.read_text(encoding="utf-8")
        assert "../shared" not in text and "/work/" not in text, document.name
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if re.match(r"[a-z]+://", target):
                continue
            resolved = (document.parent / target).resolve()
            assert resolved.is_relative_to(root), f"{document.name}: {target} points outside the repository"
            assert resolved.exists(), f"{document.name}: {target} does not exist"


def test_readme_stays_a_short_page() -> None:
    text = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    # the command-line reference between the cli markers is being moved to docs/ on another branch
    start, end = text.index("<!-- cli:start -->"), text.index("<!-- cli:end -->")
    lines = len((text[:start] + text[end:]).splitlines())
    assert lines <= 150, f"README.md has {lines} lines outside the command-line block"
