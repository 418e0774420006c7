"""Layout rules over the package's own source (AST only, milliseconds).

The rules the core keeps (docs/design.md, "Layout rules"):

1. no method package imports another method package: what two methods share lives in the core under
   public names;
2. no module imports a `_private` name from another module;
3. no import cycle among the package's modules, counting imports inside functions;
4. no method named outside methods/ (in code: strings, names, isinstance and type-name tests), in cachepass/ and
   bench/, but the registry, the public API and the bench files exempt below, each with its reason;
5. the CLI's method list and flags and the bench's rows come from the registry and the plug-ins.

# NOTE [Layout rules as a ratchet]
Each of rules 1-3 lists the violations that exist (`KNOWN_*`) and fails on any other one, so no new violation
lands; it also fails when a listed violation is gone, so the list shrinks with the code and never hides a
fixed rule. Since the redesign into one method-neutral core (issue 24) every list is empty: the rules hold
(rule 4's list is gone: it holds outright).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cachepass"
# The method packages under cachepass/methods/: every registered one.
METHOD_PACKAGES = tuple(p.name for p in sorted((PACKAGE / "methods").iterdir()) if (p / "__init__.py").exists())

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


# -- rule 4: no method named outside methods/ ------------------------------------------------------------------
# The words that name a method in code: its registry name, its title, its config classes (cachepass's and
# diffusers'), those of the methods below and of every registered one. Docstrings are documentation and may name
# methods; string literals and names in code may not.
def _registered_words() -> tuple[str, ...]:
    from cachepass.methods import METHODS

    return tuple(w for m in METHODS for w in (m.name, m.title.replace(" ", ""), m.config_class,
                                              m.diffusers_config.removesuffix("Config")) if w)


METHOD_WORDS = tuple(dict.fromkeys((
    "pab", "fastercache", "fbc", "magcache", "taylorseer", "PyramidAttentionBroadcast", "FasterCache",
    "FirstBlockCache", "MagCache", "TaylorSeer", "PABConfig", "FCConfig", "FBCConfig", "MagConfig", "TSConfig",
    *_registered_words())))
ROOT = PACKAGE.parent
REGISTRY = "cachepass/methods/__init__.py"  # the registry's list of plug-ins names every method, by design
PUBLIC_API = "cachepass/__init__.py"  # exports the config classes (cachepass.PABConfig, ...): the public API
# The rule's scope: every module of cachepass/ outside methods/ but these two, and every module of bench/ but
# these three, each about named methods by its subject:
BENCH_ALLOWED = (
    # the peers' own first-block caches (cache-dit's FBCache, ParaAttention's FBC): it names their methods and the
    # registered method they implement (`peers.METHOD`), and no plug-in can give another project's setup;
    "bench/peers.py",
    # the bench's settings per workload, keyed by registry name (NOTE [Bench fields keyed by registry name]): the
    # tuning of the bench's random-weight models, not the methods'; test_bench_fields_are_keyed_by_registered_names
    # checks every key;
    "bench/workloads.py",
    # a study of FirstBlockCache's own design (its pieces against one torch.cond graph), built from its runtime's
    # head and tail pieces: a script about one method.
    "bench/fbc_cond.py",
)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def method_names_in(tree: ast.AST) -> set[str]:
    """The method words a module's code uses: in string literals (docstrings aside), names and attributes,
    and in isinstance / type-name tests."""
    import re

    words_first = sorted(METHOD_WORDS, key=len, reverse=True)  # PABConfig before pab
    pattern = re.compile(r"(?<![A-Za-z])(" + "|".join(words_first) + r")(?-i:(?![a-z]))", re.IGNORECASE)
    docs = _docstrings(tree)
    words = set()
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value
        elif isinstance(node, ast.Name):
            text = node.id
        elif isinstance(node, ast.Attribute):
            text = node.attr
        elif isinstance(node, ast.alias):
            text = node.asname or node.name
        if text:
            words |= {m.lower() for m in pattern.findall(text)}
    return words


def method_name_uses(paths: list[Path]) -> set[tuple[str, str]]:
    found = set()
    for path in paths:
        rel = path.relative_to(ROOT).as_posix()
        for word in method_names_in(ast.parse(path.read_text(), str(path))):
            found.add((rel, word))
    return found


def _outside_methods() -> list[Path]:
    package = [p for p in sorted(PACKAGE.rglob("*.py"))
               if "methods" not in p.relative_to(PACKAGE).parts[:1] or p.relative_to(ROOT).as_posix() == REGISTRY]
    package = [p for p in package if p.relative_to(ROOT).as_posix() not in (REGISTRY, PUBLIC_API)]
    bench = [p for p in sorted((ROOT / "bench").rglob("*.py")) if p.relative_to(ROOT).as_posix() not in BENCH_ALLOWED]
    return package + bench


def test_method_name_finder_finds_planted_names():
    """The rule below could fail: a config isinstance test, a type-name test and a method's name in a string."""
    planted = ast.parse('"""PAB in a docstring is documentation."""\n'
                        'def f(c):\n    return isinstance(c, PABConfig)\n'
                        'def g(c):\n    return type(c).__name__ == "MagCacheConfig"\n'
                        'H = {"fbc": 1}\n')
    assert method_names_in(planted) == {"pabconfig", "magcache", "fbc"}  # MagCacheConfig: MagCache, then Config
    assert method_names_in(ast.parse('"""FasterCache, TaylorSeer."""\nX = "timestep"\n')) == set()


def test_no_method_named_outside_methods():
    found = method_name_uses(_outside_methods())
    assert not found, f"methods named outside cachepass/methods/ (ask the registry or the plug-ins): {sorted(found)}"


def test_bench_fields_are_keyed_by_registered_names():
    """The exempt bench data names only registered methods: a renamed or unregistered method fails here."""
    from bench import peers
    from bench.workloads import WORKLOADS
    from cachepass.methods import METHODS

    names = {m.name for m in METHODS}
    for workload in WORKLOADS.values():
        assert set(workload.methods) <= names and set(workload.why_not) <= names, workload.name
    assert peers.METHOD in names


# -- rule 5: report, dump and CLI content come from the plug-ins -----------------------------------------------
# report.py and dump.py hold no per-method content (rule 4 finds none there: each method's report section and
# dump files are its package's, methods/<name>/). The CLI's method list and cache flags are the registry's.
def _dump_parser() -> Any:
    from cachepass.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices["dump"]


def hand_written_flags(dump: Any) -> set[str]:
    """The cache-config flags of `cachepass dump` that no plug-in declares (its `flags()`)."""
    from cachepass.methods import METHODS

    group = next(g for g in dump._action_groups if g.title.startswith("cache config"))
    flags = {o for action in group._group_actions for o in action.option_strings}
    return flags - {"--method", "--cache-config"} - {f.name for m in METHODS for f in m.plugin.flags()}


def test_hand_written_flag_finder_finds_a_planted_flag():
    dump = _dump_parser()
    group = next(g for g in dump._action_groups if g.title.startswith("cache config"))
    group.add_argument("--planted-skip", type=int)
    assert hand_written_flags(dump) == {"--planted-skip"}


def test_cli_methods_and_flags_come_from_the_registry():
    from cachepass.methods import METHODS

    dump = _dump_parser()
    method = next(a for a in dump._actions if "--method" in a.option_strings)
    assert tuple(method.choices) == tuple(m.name for m in METHODS) and method.default == METHODS[0].name
    assert hand_written_flags(dump) == set()


def test_bench_rows_come_from_the_registry():
    """Every registered method has its bench rows, named by its plug-in (a cachepass row; diffusers' hook eager and
    compiled where diffusers has the method), every stack skip a composed row per calibrator, and nothing else is a
    cachepass row (a method left out of the registry, or a row written by hand, fails here)."""
    from bench.configurations import CONFIGURATIONS, HOOK_OF
    from cachepass.methods import CALIBRATORS, METHODS

    cached = [c for c in CONFIGURATIONS.values() if c.cachepass]
    composed = [(f"cachepass {m.plugin.bench_label} + {c.title}", m.name, c.name) for m in METHODS
                if m.plugin.calibrated_skip for c in CALIBRATORS]
    assert [(c.name, c.method, c.calibrator) for c in cached] == [
        *((f"cachepass {m.plugin.bench_label}", m.name, None) for m in METHODS), *composed]
    # the reference row: diffusers' hook, or the implementation the plug-in names (`bench_peer`: cache-dit's DBCache);
    # none for a method without another project's config (TeaCache)
    hooked = [m for m in METHODS if m.diffusers_config]
    assert HOOK_OF == {m.name: f"{m.plugin.bench_peer} {m.plugin.bench_label} (eager)" if m.plugin.bench_peer
                       else f"diffusers {m.plugin.bench_label} hook (eager)" for m in hooked}
    assert all(HOOK_OF[m.name] in CONFIGURATIONS for m in hooked)
    assert not any(c.method == m.name and not c.cachepass for m in METHODS if not m.diffusers_config
                   for c in CONFIGURATIONS.values())
