"""Layout rules over the package's own source (AST only, milliseconds).

The rules the core keeps (docs/design.md, "Layout rules"):

1. no method package imports another method package: what two methods share lives in the core under
   public names;
2. no module imports a `_private` name from another module;
3. no import cycle among the package's modules, counting imports inside functions.

# NOTE [Layout rules as a ratchet]
Each rule's test lists the violations that exist (`KNOWN_*`) and fails on any other one, so no new violation
lands; it also fails when a listed violation is gone, so the list shrinks with the code and never hides a
fixed rule. Since the redesign into one method-neutral core (issue 24) every list is empty: the rules hold.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cachepass"
# The method packages under cachepass/methods/.
METHOD_PACKAGES = ("pab", "fastercache", "fbc", "magcache", "taylorseer")

KNOWN_CYCLES: set[tuple[str, ...]] = set()

KNOWN_PRIVATE_IMPORTS: set[tuple[str, str]] = set()

KNOWN_CROSS_METHOD_IMPORTS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative levels resolved against the importer)."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(tree: ast.Module, name: str, known: set[str]) -> Iterator[tuple[str, str | None]]:
    """(imported module, imported name or None) for every import anywhere in the module, functions
    included; `from pkg import mod` yields the submodule when one exists."""
    is_package = any(m.startswith(name + ".") for m in known)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            target = resolve(name, is_package, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub, None) if sub in known else (target, alias.name)


def method_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "methods" and parts[2] in METHOD_PACKAGES:
        return parts[2]
    return None


def package_graph() -> dict[str, set[str]]:
    trees = modules()
    known = set(trees)
    graph: dict[str, set[str]] = {}
    for name, tree in trees.items():
        graph[name] = {target for target, _ in imports(tree, name, known) if target in known and target != name}
    return graph


def test_no_method_package_imports_another():
    found = set()
    for importer, targets in package_graph().items():
        for target in targets:
            a, b = method_of(importer), method_of(target)
            if a and b and a != b:
                found.add((importer, target))
    assert found <= KNOWN_CROSS_METHOD_IMPORTS, f"new imports between methods: {sorted(found - KNOWN_CROSS_METHOD_IMPORTS)}"
    assert KNOWN_CROSS_METHOD_IMPORTS <= found, (
        f"fixed, remove from KNOWN_CROSS_METHOD_IMPORTS: {sorted(KNOWN_CROSS_METHOD_IMPORTS - found)}")


def test_no_private_name_crosses_a_module():
    """cachepass's own modules; private names of torch and diffusers are the other rule's (one place each,
    with a test that fails if an upgrade changes them: dynamo_meta.py)."""
    trees = modules()
    known = set(trees)
    found = set()
    for name, tree in trees.items():
        for target, imported in imports(tree, name, known):
            private = imported and imported.startswith("_") and not imported.startswith("__")
            if private and target != name and target.split(".")[0] == "cachepass":
                found.add((name, f"{target}.{imported}"))
    assert found <= KNOWN_PRIVATE_IMPORTS, f"private names imported across modules: {sorted(found - KNOWN_PRIVATE_IMPORTS)}"
    assert KNOWN_PRIVATE_IMPORTS <= found, f"fixed, remove from KNOWN_PRIVATE_IMPORTS: {sorted(KNOWN_PRIVATE_IMPORTS - found)}"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = iter(range(10**9))

    def visit(v: str) -> None:
        index[v] = low[v] = next(counter)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_planted_cycle():
    """The rule below could fail: the finder sees a cycle through a function-level import."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from . import b\n")
    assert list(imports(tree, "cachepass.a", {"cachepass.a", "cachepass.b"})) == [("cachepass.b", None)]


def test_import_cycles_are_only_the_known_ones():
    found = {tuple(c) for c in cycles(package_graph())}
    assert found <= KNOWN_CYCLES, f"new import cycles: {sorted(found - KNOWN_CYCLES)}"
    assert KNOWN_CYCLES <= found, f"fixed, remove from KNOWN_CYCLES: {sorted(KNOWN_CYCLES - found)}"
