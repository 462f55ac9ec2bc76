"""No import circles inside hvsim: the modules' import graph has no cycle.

Every import counts, those inside functions too (a late import only hides a
circle), and importing a module also imports the packages above it (their
__init__.py runs first).  A cycle is reported with its path, e.g.
hvsim.cli -> hvsim.run -> hvsim.cli.
"""

import ast
import os

import hvsim

ROOT = os.path.dirname(os.path.abspath(hvsim.__file__))


def modules():
    """{dotted name: (path, the package its relative imports start from)}."""
    out = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
            if rel.endswith(".__init__"):
                rel = rel[:-len(".__init__")]
                out[rel] = (path, rel)
            else:
                out[rel] = (path, rel.rsplit(".", 1)[0])
    return out


def imported(node, package):
    """The dotted names an import statement may load: the module and, for
    `from M import x`, M.x (x may be a submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = package.split(".")[:len(package.split(".")) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module
    return [module] + [module + "." + a.name for a in node.names]


def with_packages(name, importer):
    """name and the packages above it that `importer` is not already inside."""
    parts = name.split(".")
    names = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return [n for n in names if not (importer + ".").startswith(n + ".")]


def import_graph():
    mods = modules()
    graph = {}
    for name, (path, package) in mods.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in imported(node, package):
                    deps.update(m for m in with_packages(target, name) if m in mods)
        deps.discard(name)
        graph[name] = deps
    return graph


def find_cycle(graph):
    """One cycle as a list of module names (first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if colour[start] != WHITE:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, children = stack[-1]
            for child in children:
                if colour[child] == GREY:
                    return path[path.index(child):] + [child]
                if colour[child] == WHITE:
                    colour[child] = GREY
                    path.append(child)
                    stack.append((child, iter(sorted(graph[child]))))
                    break
            else:
                colour[node] = BLACK
                path.pop()
                stack.pop()
    return None


def test_no_import_circles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_graph_sees_late_imports_and_packages():
    """The checker itself: a late import and a package's __init__ are edges,
    and a planted circle is found."""
    graph = import_graph()
    assert "hvsim.run" in graph["hvsim.cli"]                 # cli's cmd_run imports it late
    assert "hvsim.abi" in graph["hvsim.hv.hypercall"]        # hvsim/abi/__init__.py runs
    graph["hvsim.abi.cstruct"] = graph["hvsim.abi.cstruct"] | {"hvsim.cli"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and "hvsim.cli" in cycle
