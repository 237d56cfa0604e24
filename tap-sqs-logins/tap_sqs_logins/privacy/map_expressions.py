"""What a stream-map expression may read: an allow-list checked on its syntax tree.

The SDK (``singer_sdk.mapper``, ``CustomStreamMap._eval``) evaluates a property expression
and a ``__filter__`` with simpleeval, over these names: every field of the record, the
record itself as ``record`` and ``_``, ``self`` (the field named like the property),
``config`` (``stream_map_config``), ``__stream_name__``, ``__original_stream_name__`` and
``fake`` (Faker); and these functions: simpleeval's (``int``, ``str``, ``list``, …),
``md5``, ``sha256``, ``bool``, ``datetime``, ``json``, and the tap's ``mask`` and ``seal``.

An expression passes only if every name it reads is a field that is not protected, one of
the SDK's other names or functions, or ``self`` where ``self`` is not a protected field; a
protected field (``ip``, ``device_id``) may appear only as the one argument of ``mask()``
or ``seal()``. It may not bind names (comprehensions, ``:=``), since a bound name could
stand for anything, nor read an attribute starting with ``_``. ``mask()`` takes one field
name, which is also the domain of its hash (``mask(ip)``).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

import simpleeval

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

MASK, SEAL = "mask", "seal"
PROTECTING = (MASK, SEAL)
# The functions of every expression: simpleeval's (EvalWithCompoundTypes adds the container
# types) and the SDK's (CustomStreamMap.functions); and the names the SDK adds (_eval).
SDK_FUNCTIONS = frozenset(
    {*simpleeval.DEFAULT_FUNCTIONS, "list", "tuple", "dict", "set"}
    | {"md5", "sha256", "bool", "datetime", "json"}
)
SDK_NAMES = frozenset({"config", "__stream_name__", "__original_stream_name__", "fake"})
BINDING = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.NamedExpr, ast.Lambda)


def parse(expression: str) -> ast.Expr | None:
    """Return the one expression ``expression`` holds, or None if it holds anything else."""
    try:
        tree = ast.parse(expression)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    only = tree.body[0] if len(tree.body) == 1 else None
    return only if isinstance(only, ast.Expr) else None


def calls(tree: ast.AST) -> Iterator[ast.Call]:
    """Yield the calls of a function by its bare name (``mask(ip)``, not ``x.mask(ip)``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            yield node


def masked_field(call: ast.Call) -> str | None:
    """Return the field of ``mask(<field>)``, or None if ``call`` is not one."""
    if call.keywords or len(call.args) != 1 or not isinstance(call.args[0], ast.Name):
        return None
    return call.args[0].id


def call_problem(tree: ast.AST, fields: Collection[str]) -> str | None:
    """Say why a ``mask()`` or ``seal()`` call is malformed; None if none is."""
    for call in calls(tree):
        name = getattr(call.func, "id", None)
        if name == MASK and masked_field(call) not in fields:
            return "calls mask() with something else than one field, such as mask(ip)"
        if name == SEAL and (call.keywords or len(call.args) != 1):
            return "calls seal() with something else than one value, such as seal(ip)"
    return None


def reading_problem(
    tree: ast.AST, fields: Collection[str], protected: Collection[str], *, self_is: str | None
) -> str | None:
    """Say what an expression reads that it may not; None if it reads only allowed names.

    Args:
        tree: The parsed expression.
        fields: The fields of the record.
        protected: The fields readable only through ``mask()`` or ``seal()``.
        self_is: The field ``self`` stands for (the property's name), or None.
    """
    protecting = {
        id(node)
        for call in calls(tree)
        if getattr(call.func, "id", None) in PROTECTING
        for node in (call.func, *call.args)
        if node is call.func or _sole_protected_argument(call, protected)
    }
    readable = {*fields, *SDK_FUNCTIONS, *SDK_NAMES} - set(protected)
    if self_is is not None and self_is not in protected:
        readable.add("self")
    for node in ast.walk(tree):
        if isinstance(node, BINDING):
            return "binds names (a comprehension or :=), which may hide what it reads"
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return f"reads the attribute {node.attr!r}"
        if not isinstance(node, ast.Name) or node.id in readable or id(node) in protecting:
            continue
        if node.id in protected or (node.id == "self" and self_is in protected):
            return f"reads {self_is if node.id == 'self' else node.id} outside mask() or seal()"
        return f"reads {node.id!r}, which is not a field it may read (nor an SDK name)"
    return None


def _sole_protected_argument(call: ast.Call, protected: Collection[str]) -> bool:
    argument = call.args[0] if len(call.args) == 1 and not call.keywords else None
    return isinstance(argument, ast.Name) and argument.id in protected
