#!/usr/bin/env python3
"""Import circles between the modules of each crate: exits 1 and names every circle found.

A module is a source file (`src/engine/step.rs` is `engine::step`, a `mod.rs` or `lib.rs` the
folder's module). Module A depends on module B when A names something of B: a `use crate::...`
or `use super::...` line, or a `crate::...` path in code. A name re-exported by a module
(`pub use`) counts as the module that defines it, so a crate root that re-exports its parts
makes no circle. A folder's `mod.rs` declaring its children is not a dependency; a child that
uses its parent's own items while the parent uses the child is a circle. Test modules
(`#[cfg(test)] mod tests`) are left out.

Run from the repository root (CI runs it): python3 scripts/checks/module-cycles.py
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_of(src: Path, file: Path):
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_tests(text):
    """Drops `#[cfg(test)] mod ... { ... }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    items, depth, start = [], 0, 0
    for k, c in enumerate(inner):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            items.append(inner[start:k])
            start = k + 1
    items.append(inner[start:])
    return [p for item in items if item for p in expand_use(prefix + item)]


def absolute(path, here):
    """A `crate::`/`super::`/`self::` path as segments from the crate root, or None for a path
    into another crate. `here` is the module the path is written in."""
    segs = path.split("::")
    if segs[0] == "crate":
        return segs[1:]
    if segs[0] == "self":
        return list(here) + segs[1:]
    if segs[0] != "super":
        return None
    current = list(here)
    while segs and segs[0] == "super":
        segs = segs[1:]
        current = current[:-1]
    return current + segs


def analyse(crate_dir: Path):
    src = crate_dir / "src"
    files = [f for f in src.rglob("*.rs") if "bin" not in f.relative_to(src).parts]
    modules = {module_of(src, f): f for f in files}
    uses, reexports = {}, {}
    for mod, file in modules.items():
        text = strip_tests(file.read_text())
        paths = []
        for m in re.finditer(r"(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", text):
            tree = re.sub(r"\s+as\s+\w+", "", m.group(2))
            for p in expand_use(tree):
                target = absolute(p.rstrip("*").rstrip(":"), mod)
                if target is None:
                    continue
                paths.append(target)
                if m.group(1) and target and not p.endswith("*"):
                    reexports.setdefault(mod, {})[target[-1]] = target
        for m in re.finditer(rf"\b(?:crate|super)(?:::{IDENT})+", text):
            target = absolute(m.group(0), mod)
            if target is not None:
                paths.append(target)
        uses[mod] = paths

    def resolve(target, seen=()):
        # Longest prefix that is a module; a re-exported name counts as its origin.
        for k in range(len(target), -1, -1):
            prefix = tuple(target[:k])
            if prefix in modules:
                rest = target[k:]
                if rest and prefix in reexports and rest[0] in reexports[prefix] and prefix not in seen:
                    origin = reexports[prefix][rest[0]]
                    return resolve(origin + rest[1:], seen + (prefix,))
                return prefix
        return ()

    graph = {}
    for mod, paths in uses.items():
        deps = {resolve(p) for p in paths}
        deps.discard(mod)
        graph[mod] = deps
    return graph


def cycles(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    sys.setrecursionlimit(10000)
    found = 0
    for crate in sorted((ROOT / "crates").iterdir()):
        if not (crate / "src").is_dir():
            continue
        graph = analyse(crate)
        for component in cycles(graph):
            found += 1
            names = sorted("::".join(m) or "(root)" for m in component)
            print(f"{crate.name}: import circle between {', '.join(names)}")
        print(f"{crate.name}: {len(graph)} modules checked", file=sys.stderr)
    if found:
        sys.exit(1)
    print("no import circles")


if __name__ == "__main__":
    main()
