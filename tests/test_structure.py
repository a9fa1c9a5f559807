"""The order of the apps (``docs/architecture.md``, "The order of the apps"), held on the source itself: every
first-party module is parsed (``ast``; nothing is imported or run) and each ``import`` is checked against the
order. A failure names the file, the line and the import that breaks the rule.

- ``clinical`` imports no app of the project; the kernel ``trial_site`` imports only ``clinical``.
- screening ← randomization ← visits ← safety ← reminders: each imports the kernel, ``clinical`` and the apps to its
  left only.
- ``monitoring`` and ``exports`` read every app; nothing imports them, except ``exports`` importing ``monitoring``.
  The kernel reaches monitoring only through the dotted paths of its settings (strings, not imports).
- No import cycle between the apps, and no cycle between the modules of one app at module level (the imports
  Python runs when a module is loaded).

Imports inside functions and under ``TYPE_CHECKING`` count too: a lazy import is still a dependency. The few that
break the order are listed in ``ALLOWED`` with the reason, and only where they cannot pull the app into the
importer's import graph (in a function, or in an entry point nothing imports); a line there that no longer matches
an import fails, so the list cannot go stale.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

KERNEL = "trial_site"
# Left to right: each app may import those before it in the chain (and the kernel and clinical).
CHAIN = ("screening", "randomization", "visits", "safety", "reminders")
READERS = ("monitoring", "exports")  # read every app; exports also read monitoring
APPS = ("clinical", KERNEL, *CHAIN, *READERS)

# What each app may import, besides itself.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "clinical": frozenset(),
    KERNEL: frozenset({"clinical"}),
    **{app: frozenset({"clinical", KERNEL, *CHAIN[:index]}) for index, app in enumerate(CHAIN)},
    "monitoring": frozenset({"clinical", KERNEL, *CHAIN}),
    "exports": frozenset({"clinical", KERNEL, *CHAIN, "monitoring"}),
}

# Imports that break the order on purpose: (importing file, imported app) -> why. Allowed only where the import
# cannot pull the app into the importer's own import graph: inside a function, or in an entry point that no
# first-party module imports (a management command, run by Django's command runner). Each line is checked to
# still match an import, so the list cannot go stale.
_SEED_DEMO = "trial_site/management/commands/seed_demo.py"
_SEED_DEMO_REASON = (
    "seed_demo builds the whole demo trial, each app's part through that app's demo module; a command is an entry "
    "point nothing imports. To be moved out of the kernel (reported in issue #19)"
)
ALLOWED: dict[tuple[str, str], str] = {
    (_SEED_DEMO, app): _SEED_DEMO_REASON
    for app in ("screening", "randomization", "visits", "safety", "reminders", "monitoring")
}


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository, with forward slashes
    line: int
    source: str  # the module that imports
    target: str  # the module imported (a first-party module or package)
    module_level: bool  # run when the importing module is loaded (not in a function, not for type checking only)
    statement: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.statement}"


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _first_party_files(root: Path = ROOT) -> list[Path]:
    return sorted(path for app in APPS for path in (root / app).rglob("*.py"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_in(path: Path, known: set[str], root: Path = ROOT) -> list[Import]:
    source = _module_name(path, root)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    relative_path = path.relative_to(root).as_posix()
    found: list[Import] = []

    def resolve(name: str) -> str | None:
        """The first-party module ``name`` is, or lives in (``a.b.c`` → ``a.b`` when c is a name in a.b)."""
        while name:
            if name in known:
                return name
            name = name.rpartition(".")[0]
        return None

    def add(node: ast.stmt, target: str | None, module_level: bool) -> None:
        if target is not None and target.split(".")[0] in APPS:
            statement = ast.get_source_segment(text, node) or ""
            found.append(Import(relative_path, node.lineno, source, target, module_level, " ".join(statement.split())))

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(child, resolve(alias.name), module_level)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    module = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    module = child.module or ""
                for alias in child.names:  # ``from pkg import sub`` imports the submodule pkg.sub
                    add(child, resolve(f"{module}.{alias.name}") or resolve(module), module_level)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, False)  # for the type checker only; still a dependency between the apps
            else:
                visit(child, module_level)

    visit(tree, True)
    return found


def all_imports(root: Path = ROOT) -> list[Import]:
    files = _first_party_files(root)
    known = {_module_name(path, root) for path in files}
    return [found for path in files for found in _imports_in(path, known, root)]


@functools.cache
def _project_imports() -> tuple[Import, ...]:
    return tuple(all_imports())


def _app(module: str) -> str:
    return module.split(".")[0]


def _allowed(found: Import, imported: set[str]) -> bool:
    """Listed in ``ALLOWED``, and lazy: in a function, or in a module no first-party module imports."""
    listed = (found.path, _app(found.target)) in ALLOWED
    return listed and (not found.module_level or found.source not in imported)


def _imported_modules(imports: list[Import]) -> set[str]:
    return {found.target for found in imports}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def _cycle_report(component: list[str], imports: list[Import], node: Callable[[str], str]) -> str:
    members = set(component)
    lines = sorted({f"  {found.where}" for found in imports if {node(found.source), node(found.target)} <= members})
    return f"cycle between {', '.join(component)}:\n" + "\n".join(lines)


def upward_imports(imports: list[Import]) -> list[str]:
    """Each import of an app the importer may not import, not allowed in ``ALLOWED``: file, line, statement."""
    imported = _imported_modules(imports)
    return [
        f"{found.where}  ({_app(found.source)} may not import {_app(found.target)})"
        for found in imports
        if _app(found.target) != _app(found.source)
        and _app(found.target) not in MAY_IMPORT[_app(found.source)]
        and not _allowed(found, imported)
    ]


def app_cycles(imports: list[Import]) -> list[str]:
    """The cycles between apps (every import, lazy ones too, but those allowed), with the imports that make them."""
    imported = _imported_modules(imports)
    between = [found for found in imports if _app(found.source) != _app(found.target) and not _allowed(found, imported)]
    edges: dict[str, set[str]] = defaultdict(set)
    for found in between:
        edges[_app(found.source)].add(_app(found.target))
    return [_cycle_report(component, between, _app) for component in _cycles(edges)]


def module_cycles(imports: list[Import]) -> list[str]:
    """The cycles between modules of one app at module level, with the imports that make them."""
    within = [found for found in imports if found.module_level and _app(found.source) == _app(found.target)]
    edges: dict[str, set[str]] = defaultdict(set)
    for found in within:
        # A package's __init__ may import its own modules; they import their package first (no cycle to report).
        if found.source != found.target and not found.source.startswith(f"{found.target}."):
            edges[found.source].add(found.target)
    return [_cycle_report(component, within, lambda module: module) for component in _cycles(edges)]


# ---------------------------------------------------------------------------------------------------------- tests


def test_every_app_is_parsed() -> None:
    imports = _project_imports()
    assert {_app(found.source) for found in imports} == set(APPS)
    assert len(imports) > 500


def test_no_upward_import() -> None:
    broken = upward_imports(list(_project_imports()))
    assert not broken, "imports against the order of the apps (docs/architecture.md):\n" + "\n".join(broken)


def test_the_allowed_exceptions_still_exist_and_are_lazy() -> None:
    imports = list(_project_imports())
    imported = _imported_modules(imports)
    for (path, app), reason in ALLOWED.items():
        assert reason
        matching = [found for found in imports if found.path == path and _app(found.target) == app]
        assert matching, f"ALLOWED lists {path} importing {app}, which it no longer does: remove the line"
        eager = [found.where for found in matching if not _allowed(found, imported)]
        assert not eager, f"imported at module level by a module that is itself imported: {eager}"


def test_no_import_cycle_between_the_apps() -> None:
    cycles = app_cycles(list(_project_imports()))
    assert not cycles, "\n".join(cycles)


def test_no_import_cycle_between_the_modules_of_an_app() -> None:
    cycles = module_cycles(list(_project_imports()))
    assert not cycles, "\n".join(cycles)


def test_the_checks_find_an_upward_import_and_cycles_with_their_lines(tmp_path: Path) -> None:
    """On a small tree: a lazy upward import in the kernel, a relative import, a type-checking import and a cycle
    inside an app are each found, named by file and line."""
    files = {
        "clinical/__init__.py": "",
        "trial_site/__init__.py": "",
        "trial_site/hooks.py": "import clinical\n\n\ndef later():\n    from visits.models import Visit\n",
        "visits/__init__.py": "",
        "visits/models.py": "from trial_site import hooks\nfrom . import views\n",
        "visits/views.py": "from typing import TYPE_CHECKING\n\nfrom visits.models import Visit\n"
        "if TYPE_CHECKING:\n    from exports.models import Job\n",
        "exports/__init__.py": "",
        "exports/models.py": "import monitoring.models\n",
        "monitoring/__init__.py": "",
        "monitoring/models.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    imports = all_imports(tmp_path)
    assert upward_imports(imports) == [
        "trial_site/hooks.py:5: from visits.models import Visit  (trial_site may not import visits)",
        "visits/views.py:5: from exports.models import Job  (visits may not import exports)",
    ]
    assert app_cycles(imports) == [
        "cycle between trial_site, visits:\n"
        "  trial_site/hooks.py:5: from visits.models import Visit\n"
        "  visits/models.py:1: from trial_site import hooks"
    ]
    assert module_cycles(imports) == [
        "cycle between visits.models, visits.views:\n"
        "  visits/models.py:2: from . import views\n"
        "  visits/views.py:3: from visits.models import Visit"
    ]
