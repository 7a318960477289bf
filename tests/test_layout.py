"""The package's layout: imports flow one way, and no module reaches into another's privates."""

import ast
import pathlib

import keras_stability

PACKAGE = pathlib.Path(keras_stability.__file__).parent


def _modules():
    """`{dotted name: syntax tree}` of every module of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = ast.parse(path.read_text())
    return modules


def _imports(tree, modules):
    """`(node, imported module, imported names)` for our own imports."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "keras_stability"
        ):
            names = []
            for alias in node.names:
                # `from keras_stability import data` imports a module.
                if f"{node.module}.{alias.name}" in modules:
                    found.append((node, f"{node.module}.{alias.name}", []))
                else:
                    names.append(alias.name)
            found.append((node, node.module, names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("keras_stability"):
                    found.append((node, alias.name, []))
    return found


def _module_level(tree):
    return {id(node) for node in tree.body}


def test_no_import_of_our_modules_inside_a_function():
    modules = _modules()
    inside = [
        f"{name}: line {node.lineno} imports {target}"
        for name, tree in modules.items()
        for node, target, _ in _imports(tree, modules)
        if id(node) not in _module_level(tree)
    ]
    assert inside == []


def _cycle(graph):
    """A cycle of `graph` (`{node: targets}`) as a list of nodes, or None."""
    state = {}

    def visit(name, path):
        if state.get(name) == "done":
            return None
        if state.get(name) == "open":
            return [*path, name]
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            cycle = visit(target, [*path, name])
            if cycle:
                return cycle
        state[name] = "done"
        return None

    for name in graph:
        cycle = visit(name, [])
        if cycle:
            return cycle
    return None


def test_the_import_graph_has_no_cycle():
    modules = _modules()
    # A package's __init__ importing its own submodules is how it re-exports.
    graph = {
        name: {
            target
            for _, target, _ in _imports(tree, modules)
            if target != name and not target.startswith(name + ".")
        }
        for name, tree in modules.items()
    }
    assert _cycle(graph) is None


def test_no_module_imports_another_modules_private_names():
    modules = _modules()
    reaching = [
        f"{name} imports {target}.{imported}"
        for name, tree in modules.items()
        for _, target, names in _imports(tree, modules)
        for imported in names
        if imported.startswith("_") and not imported.startswith("__")
    ]
    assert reaching == []


def test_the_checks_see_a_cycle_and_an_import_in_a_function():
    # The checks above must be able to fail.
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    tree = ast.parse("def f():\n    from keras_stability import model\n")
    found = _imports(tree, {"keras_stability.model": None})
    assert found and all(id(node) not in _module_level(tree) for node, _, _ in found)
