"""The house rules: folders that follow a snapshot's data flow, and imports that never run back up.

* no import cycle between modules;
* a stage (a folder of ``tbactviz/``) imports only earlier stages, in :data:`FLOW` order, and the few modules
  shared by all of them (:data:`SHARED`);
* the numpy-only stages import no Keras, TensorFlow, JAX or PyTorch, anywhere in their modules, and importing
  them loads none of those;
* at most about ten modules at the top level of the package;
* the tests mirror the package: ``tests/<folder>/test_<module>...py`` for ``tbactviz/<folder>/<module>.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tbactviz"

#: The stages of a snapshot, in the order the data flows through them; then what is built on top of them.
FLOW = (
    "model",  # running the user's model on any backend: capture, compile, shapes
    "layers",  # what to look at: listing, selection, overview
    "probe",  # the probe's inputs, and the forward pass returning the chosen layers
    "stats",  # figures and histograms: device partials, host fold, numpy functions
    "grids",  # grids: plan, budget, device quantization, host tiling, PNG
    "events",  # tags, tbactviz's own summaries, their bytes, the event file
    "snapshot",  # the stages put together: ActivationLogger
    "training",  # ActivationCallback: when, which process, background writing
    "__init__",  # the public names
    "tools",  # files, the demo, TensorBoard
    "cli",  # the tbactviz command
    "plugin",  # the Activations tab (TensorBoard runs it)
    "__main__",
)
#: Top-level modules every stage may import.
SHARED = {"checks", "errors", "options", "_version", "_moved"}
#: Stages whose modules import no deep-learning framework, not even inside a function.
NUMPY_ONLY = (
    "events/naming",
    "events/records",
    "events/tilemap",
    "grids/plan",
    "grids/budget",
    "grids/values",
    "grids/png",
    "grids/colormaps",
    "grids/tiling",
    "stats/fold",
    "training/schedule",
    "training/background",
    "tools/data",
    "checks",
    "errors",
    "options",
)
FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")
MAX_TOP_LEVEL = 10
TESTS = PACKAGE.parent / "tests"
#: Tests at the top of ``tests/`` that are about the whole package, not one module: every path, every backend.
WHOLE_PACKAGE_TESTS = {
    "backends",  # the logger, the callback and the CLI on JAX and PyTorch write what TensorFlow does
    "bench_gpu",  # benchmarks/bench_gpu.py runs as one command
    "docstrings",  # every example in a docstring runs
    "house",  # these rules
    "no_tensorflow",  # no TensorFlow import on JAX and PyTorch, on every path
    "package",  # the public surface
    "reference",  # the fast paths equal plain reference implementations
    "reliability",  # bad input, faults and interruptions (docs/reliability.md's table)
    "tensorboard_server",  # TensorBoard itself shows what every path wrote
    "typing",  # mypy on the package
}


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
                # a submodule imported from its package (from tbactviz.stats import fold) is an import of that
                # submodule; any other name is one of the package's (or module's) own
                targets += [
                    f"{module}.{a.name}" if f"{module}.{a.name}" in names else module for a in node.names
                ]
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
    assert {"probe.extractor", "layers.listing", "model.capture"} <= (
        graph["snapshot.logger"] | graph["probe.extractor"]
    )
    assert "cli" in graph["__main__"]


def test_modules_import_each_other_without_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle: {' -> '.join(cycle or [])}"


def stage_of(module: str) -> str:
    """The stage a module belongs to: its folder, or itself at the top level."""
    return module.split(".")[0]


def test_every_module_is_in_a_stage_or_shared() -> None:
    unknown = {stage_of(m) for m in modules()} - set(FLOW) - SHARED
    assert not unknown, f"modules outside the flow: {sorted(unknown)}; add the folder to FLOW"


def backward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of ``graph`` from a stage to a later one (shared modules aside), as ``'a -> b'``."""
    order = {stage: i for i, stage in enumerate(FLOW)}
    return [
        f"{module} -> {target}"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if SHARED.isdisjoint({stage_of(module), stage_of(target)})
        and order[stage_of(target)] > order[stage_of(module)]
    ]


def test_the_stage_rule_catches_a_backward_import() -> None:
    graph = {"grids.quantize": {"events.naming", "errors"}, "events.naming": set(), "errors": set()}
    assert backward_imports(graph) == ["grids.quantize -> events.naming"]
    assert backward_imports({"events.naming": {"grids.plan", "options"}}) == []


def test_no_stage_imports_a_later_one() -> None:
    backwards = backward_imports(import_graph())
    assert not backwards, f"imports running back up the flow: {backwards}"


def test_shared_modules_import_no_stage() -> None:
    for module, targets in import_graph().items():
        if stage_of(module) in SHARED:
            assert {stage_of(t) for t in targets} <= SHARED, (module, targets)


def _framework_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom) and node.module and not node.level
            else []
        )
        found |= {n.split(".")[0] for n in names if n.split(".")[0] in FRAMEWORKS}
    return found


@pytest.mark.parametrize("name", NUMPY_ONLY)
def test_numpy_only_modules_import_no_framework(name: str) -> None:
    assert not _framework_imports(PACKAGE / f"{name}.py")


def test_importing_the_numpy_only_modules_loads_no_framework() -> None:
    imports = "; ".join(f"import tbactviz.{name.replace('/', '.')}" for name in NUMPY_ONLY)
    code = f"import sys; {imports}; print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_few_modules_at_the_top_level() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL, top


def mirror_problems(tests: Path, package: Path) -> list[str]:
    """Test files that do not mirror a module: ``tests/F/test_M*.py`` needs ``tbactviz/F/M.py`` (or ``M`` the
    folder's own name, for its ``__init__``, or a folder of its files, e.g. ``plugin/static``); at the top,
    ``test_M`` is a top-level module or a test of the whole package (:data:`WHOLE_PACKAGE_TESTS`)."""
    problems = []
    for path in sorted(tests.rglob("test_*.py")):
        folder = path.parent.relative_to(tests)
        stem = path.stem.removeprefix("test_")
        if folder == Path("."):
            names = {p.stem for p in package.glob("*.py")} | WHOLE_PACKAGE_TESTS
            if stem not in names:
                problems.append(f"{path.name}: no top-level module {stem!r}")
            continue
        source = package / folder
        if not source.is_dir():
            problems.append(f"{folder}/{path.name}: no folder tbactviz/{folder}")
            continue
        names = {p.stem for p in source.glob("*.py") if p.stem != "__init__"} | {folder.name}
        names |= {p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("__")}
        if not any(stem == name or stem.startswith(name + "_") for name in names):
            problems.append(f"{folder}/{path.name}: names no module of tbactviz/{folder} ({sorted(names)})")
    return problems


def test_the_mirror_rule_catches_a_stray_test(tmp_path: Path) -> None:
    package, tests = tmp_path / "pkg", tmp_path / "tests"
    for name in (
        "pkg/stats/fold.py",
        "pkg/checks.py",
        "tests/stats/test_fold_chunks.py",
        "tests/test_checks.py",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert mirror_problems(tests, package) == []
    for name in ("tests/stats/test_folding.py", "tests/grids/test_png.py", "tests/test_stuff.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert len(mirror_problems(tests, package)) == 3


def test_the_tests_mirror_the_package() -> None:
    assert mirror_problems(TESTS, PACKAGE) == []


def test_the_architecture_page_draws_every_module() -> None:
    """docs/architecture.md leads with the tree: every module of the package is in it, under its folder."""
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    tree = page.split("## The tree", 1)[1].split("```", 2)[1]
    folder, drawn = "", set()
    for line in tree.splitlines():
        name = line.lstrip("│├└─ ").split(" ", 1)[0]
        if line.startswith(("├── ", "└── ")):
            folder = name.rstrip("/") if name.endswith("/") else ""
            if not folder:
                drawn.add(name)
        elif name.endswith(".py"):
            drawn.add(f"{folder}/{name}")
    listed = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    listed -= {name for name in listed if name.endswith("/__init__.py")}
    assert sorted(listed - drawn) == [], "modules missing from the tree of docs/architecture.md"
    assert sorted(drawn - listed) == [], "modules in the tree of docs/architecture.md that do not exist"


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
