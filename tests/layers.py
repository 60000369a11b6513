#!/usr/bin/env python3
"""Import cycles in src/: which module refers to which (`use crate::…` lines and inline
`crate::a::b` paths, `super::` resolved), read up to each file's first `#[cfg(test)]`.

A module is a file (`src/detect/scan.rs` is `detect::scan`, `src/detect/mod.rs` is `detect`);
a reference to `crate::a::b::Name` counts for the longest module path it names. Re-exports
kept for old paths (`pub use` in lib.rs) are skipped: they point down, and nothing in src/
uses them.

Prints every module-level cycle (exit 1 if one spans two folders; one inside a folder is
one room's parts and only reported) and the folders that refer to each other with the
modules that make them (`--edges`: every folder edge).

usage: python3 tests/layers.py [--edges]
"""
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel == ["lib"]:
        return ""
    if rel == ["main"]:
        return "(bin)"
    return "::".join(rel)


def modules():
    out = {}
    for d, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".rs"):
                p = os.path.join(d, f)
                out[module_of(p)] = p
    return out


def test_only(mods):
    """Modules declared only in a parent's `#[cfg(test)]` part (scenario tests in files of
    their own): test code may use anything."""
    declared = set()
    for mod, path in mods.items():
        text = code(path)
        here = mod.split("::") if mod else []
        for m in re.finditer(r'(?:#\[path\s*=\s*"([^"]+)"\]\s*)?(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;', text):
            if m.group(1):
                target = os.path.normpath(os.path.join(os.path.dirname(path), m.group(1)))
                declared.add(module_of(target))
            else:
                declared.add("::".join(here + [m.group(2)]))
    declared.update(m for m, p in mods.items() if p.startswith(os.path.join(ROOT, "cli")))
    return {m for m in mods if m not in ("", "(bin)") and m not in declared}


MODS = modules()


def resolve(path_parts):
    """Longest known module that is a prefix of path_parts."""
    for n in range(len(path_parts), 0, -1):
        m = "::".join(path_parts[:n])
        if m in MODS:
            return m
    return None


def code(path):
    text = open(path, encoding="utf-8").read()
    i = text.find("#[cfg(test)]")
    text = text if i < 0 else text[:i]
    # drop comments
    return "\n".join(l.split("//")[0] for l in text.split("\n"))


def refs(mod, path):
    text = code(path)
    found = set()
    here = mod.split("::") if mod else []
    # `use crate::a::{b, c::d}` and `use super::x`: expand one level of braces
    for m in re.finditer(r"\buse\s+(crate|super)((?:::[A-Za-z_0-9]+)*)(?:::\{([^;]*)\})?\s*;", text):
        base = [] if m.group(1) == "crate" else here[:-1] if os.path.basename(path) != "mod.rs" else here[:-1]
        if m.group(1) == "super":
            # in a/b.rs super is a; in a/b/mod.rs (module a::b) super is a as well
            base = here[:-1]
        head = [p for p in m.group(2).split("::") if p]
        items = [head]
        if m.group(3):
            items = [head + [p for p in x.strip().split("::") if p and p != "self"]
                     for x in m.group(3).split(",") if x.strip()]
        for it in items:
            r = resolve(base + it)
            if r is not None:
                found.add(r)
    for m in re.finditer(r"\bcrate((?:::[A-Za-z_0-9]+)+)", text):
        r = resolve([p for p in m.group(1).split("::") if p])
        if r is not None:
            found.add(r)
    found.discard(mod)
    # a module always reaches its parents' code only through what it names; parents of a
    # referenced module are not edges
    return found


def main():
    graph = {}
    skipped = test_only(MODS)
    for mod, path in MODS.items():
        if mod in ("", "(bin)") or mod in skipped:
            continue
        graph[mod] = refs(mod, path) - skipped
    # Tarjan's strongly connected components
    index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    folder = lambda m: m.split("::")[0]
    fedges = defaultdict(set)
    for a, bs in graph.items():
        for b in bs:
            if folder(a) != folder(b):
                fedges[(folder(a), folder(b))].add(f"{a} -> {b}")
    if "--edges" in sys.argv:
        for (a, b), why in sorted(fedges.items()):
            print(f"{a} -> {b}: {', '.join(sorted(why))}")
    loops = sorted({tuple(sorted((a, b))) for (a, b) in fedges if (b, a) in fedges})
    print(f"layers: {len(graph)} modules, {sum(len(b) for b in graph.values())} references")
    for a, b in loops:
        print(f"layers: folders {a} and {b} refer to each other: "
              f"{'; '.join(sorted(fedges[(a, b)]))} | {'; '.join(sorted(fedges[(b, a)]))}")
    across = [c for c in sccs if len({folder(m) for m in c}) > 1]
    for c in sccs:
        kind = "CYCLE across folders" if c in across else "cycle inside one folder (one room's parts)"
        print(f"layers: {kind}: " + " <-> ".join(c))
    if skipped:
        print(f"layers: test-only modules not counted: {', '.join(sorted(skipped))}")
    if across:
        return 1
    print("layers: no module of one folder imports a module of another that imports it back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
