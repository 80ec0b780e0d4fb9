"""API prose from Python source, read with `ast` (the code is never imported or run)."""

from __future__ import annotations

import ast


def module_docstrings(tree: ast.Module) -> list[str]:
    """The module docstring, then `qualified.name` + docstring for each documented class and
    function, outermost first: one module's API reference as prose parts."""
    parts = [ast.get_docstring(tree) or ""]
    stack: list[tuple[str, ast.AST]] = [("", n) for n in tree.body]
    while stack:
        prefix, node = stack.pop(0)
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            doc = ast.get_docstring(node)
            if doc:
                parts.append(f"{name}\n\n{doc}")
            stack[:0] = [(f"{name}.", child) for child in node.body]
    return [p for p in parts if p]
