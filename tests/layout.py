"""The rooms of the `sideman` package and which rooms each may import: read from the source, never run.

A module's room is its folder under bridge/ (listen, core, band, model, live, live/jack, recording, offline, prompt) or, at
bridge/'s top, its own name (cli, config, engines, errors, midi); `sideman.models` and `sideman.export`
are a room each. Lower rooms never import higher ones, JACK-only code is entered only from live/,
nothing in the package imports torch under bridge/, or `tests` or `benchmarks` anywhere.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.paths import REPO

PACKAGE_DIRS = {"bridge": "sideman.bridge", "models": "sideman.models", "export": "sideman.export"}

# room -> rooms it may import (besides itself). The order is the layering: nothing imports upward.
ALLOWED: dict[str, set[str]] = {
    "bridge.errors": set(),
    "bridge.midi": set(),
    "bridge.config": {"bridge.errors"},
    "bridge.prompt": {"bridge.errors", "bridge.config"},
    "bridge.model": {"bridge.errors", "bridge.midi"},
    "bridge.listen": {"bridge.errors", "bridge.midi", "bridge.model"},
    "bridge.core": {"bridge.errors", "bridge.midi", "bridge.model", "bridge.listen"},
    "bridge.band": {"bridge.errors", "bridge.midi", "bridge.model", "bridge.listen", "bridge.core"},
    "bridge.recording": {"bridge.errors", "bridge.midi", "bridge.config"},
    "bridge.engines": {"bridge.errors", "bridge.midi", "bridge.config", "bridge.model", "bridge.listen", "bridge.core", "bridge.band"},
    "bridge.offline": {"bridge.errors", "bridge.midi", "bridge.config", "bridge.model", "bridge.listen", "bridge.core", "bridge.band",
                       "bridge.engines", "bridge.prompt"},
    "bridge.live": {"bridge.errors", "bridge.midi", "bridge.config", "bridge.model", "bridge.listen", "bridge.core", "bridge.band",
                    "bridge.recording", "bridge.engines", "bridge.live.jack", "bridge.prompt"},
    "bridge.live.jack": {"bridge.errors", "bridge.midi", "bridge.live"},
    "bridge.cli": {"bridge", "bridge.errors", "bridge.config", "bridge.live", "bridge.engines", "bridge.listen", "bridge.offline",
                   "bridge.prompt"},
    "bridge": {"bridge.cli"},  # __init__ and __main__
    "models": {"bridge.errors", "bridge.midi", "bridge.config", "bridge.model", "bridge.listen", "bridge.core", "bridge.band",
               "bridge.engines", "bridge.offline"},
    "export": {"models", "bridge.errors", "bridge.midi", "bridge.config", "bridge.model", "bridge.listen", "bridge.core", "bridge.band",
               "bridge.engines"},
}
NEVER = ("tests", "benchmarks")
NOT_UNDER_BRIDGE = ("torch", "music21")


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE_DIRS[parts[0]], *parts[1:]])


def room(module: str) -> str:
    """'sideman.bridge.live.jack.relay' -> 'bridge.live.jack'; 'sideman.bridge.cli' -> 'bridge.cli'."""
    parts = module.split(".")[1:]
    if parts[0] != "bridge":
        return parts[0]
    if len(parts) >= 3 and parts[1] == "live" and parts[2] == "jack":
        return "bridge.live.jack"
    if len(parts) >= 2 and parts[1] in ("__main__",):
        return "bridge"
    return ".".join(parts[:2]) if len(parts) >= 2 else "bridge"


def imports(source: str, module: str, is_package: bool) -> Iterable[str]:
    """Every module named by an import statement anywhere in the file (functions included), made absolute."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)


def package_sources() -> dict[str, tuple[str, bool]]:
    """module name -> (source, is a package) for every module of the installed package."""
    out = {}
    for folder in PACKAGE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            out[module_name(path)] = (path.read_text(encoding="utf-8"), path.name == "__init__.py")
    return out


def violations(sources: Mapping[str, tuple[str, bool]]) -> list[str]:
    """Every broken rule, one line each; [] if the layering holds."""
    found = []
    graph: dict[str, set[str]] = {}
    for module, (source, is_package) in sources.items():
        mine = room(module)
        graph[module] = set()
        for target in set(imports(source, module, is_package)):
            top = target.split(".")[0]
            if top in NEVER:
                found.append(f"{module} imports {target}: the package never imports {top}")
            if top in NOT_UNDER_BRIDGE and mine.startswith("bridge"):
                found.append(f"{module} imports {target}: nothing under bridge/ imports {top}")
            if top != "sideman" or target not in sources:
                continue
            graph[module].add(target)
            theirs = room(target)
            if theirs != mine and theirs not in ALLOWED.get(mine, set()):
                found.append(f"{module} ({mine}) imports {target} ({theirs})")
    found += [f"import circle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group) + [sorted(group)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups
