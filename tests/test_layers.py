"""The shape of the code: layers that import only downwards, no import cycles, only the Discord
package imports discord, and no module too long to hold one concern."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: lowest first; a package may import only from lower layers (and from itself)
LAYERS: list[set[str]] = [
    {"providers"},  # its scrub module is the one scrubber every layer uses
    {"bot.logs", "bot.allocator"},  # the C allocator told to give memory back
    {"bot.media"},
    {"bot.jobs"},
    {"bot.moderation"},  # a server's policy: settings, access, blocked terms, audit entries
    {"bot.storage", "bot.web", "bot.discord"},
    {"bot.settings"},
    {"bot.runtime"},
    {"bot.cli"},
    {"bot.__main__"},
]
MAX_LINES = 400


def source_modules() -> Iterator[tuple[str, Path]]:
    for top in ("bot", "providers"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def imports_of(path: Path) -> set[str]:
    """Every absolute module an import statement names (type-checking-only imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = dict(source_modules())


def package_of(module: str) -> str | None:
    for layer in LAYERS:
        for package in layer:
            if module == package or module.startswith(package + "."):
                return package
    return None


def layer_of(package: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if package in layer)


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "bot" and package_of(m) is None] == []


def test_imports_only_run_downwards():
    offenders = []
    for module, path in MODULES.items():
        mine = package_of(module)
        if mine is None:
            continue
        for imported in imports_of(path):
            theirs = package_of(imported)
            if theirs is None or theirs == mine:
                continue
            if layer_of(theirs) >= layer_of(mine):
                offenders.append(f"{module} imports {imported}")
    assert offenders == []


def test_only_the_discord_package_imports_discord():
    offenders = [
        f"{module} imports {imported}"
        for module, path in MODULES.items()
        for imported in imports_of(path)
        if (imported == "discord" or imported.startswith("discord."))
        and not module.startswith("bot.discord")
    ]
    assert offenders == []


def test_moderation_is_policy_alone():
    """Server policy speaks the core's types (jobs, quotas) and may log; it never talks to
    Discord, storage or a provider."""
    offenders = [
        f"{module} imports {imported}"
        for module, path in MODULES.items()
        if module.startswith("bot.moderation")
        for imported in imports_of(path)
        if imported.split(".")[0] in {"bot", "providers", "discord", "aiosqlite", "sqlite3"}
        and not imported.startswith(("bot.moderation", "bot.logs", "bot.jobs"))
    ]
    assert offenders == []


def test_no_import_cycles():
    graph = {
        module: {imported for imported in imports_of(path) if imported in MODULES} - {module}
        for module, path in MODULES.items()
    }
    # a package's __init__ is not an edge target unless named itself
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"
