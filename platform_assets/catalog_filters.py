"""Which partitions of each asset a SQL query can touch, read from DuckDB's own parse tree.

The catalog gives DuckDB only the files of these partitions, so what a query read is
exactly what it was given, and the record of reads is exact by construction. The
analysis is conservative: a predicate on the partition column (`date = ...`,
`BETWEEN`, `IN`, comparisons, `AND`/`OR` of those, with literals, `CAST`s of literals or
`$parameters` that are plain `YYYY-MM-DD` days) narrows the partitions of the table it
filters; anything it does not understand (a join, a subquery filter, `LIKE`, a
function of the column) leaves every partition in, as before."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

Predicate = Callable[[str], bool]
TableName = tuple[str, str]  # (schema or "", table)

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COMPARE: dict[str, Callable[[str, str], bool]] = {
    "COMPARE_EQUAL": lambda a, b: a == b,
    "COMPARE_NOTEQUAL": lambda a, b: a != b,
    "COMPARE_LESSTHAN": lambda a, b: a < b,
    "COMPARE_GREATERTHAN": lambda a, b: a > b,
    "COMPARE_LESSTHANOREQUALTO": lambda a, b: a <= b,
    "COMPARE_GREATERTHANOREQUALTO": lambda a, b: a >= b,
}
_MIRROR = {
    "COMPARE_LESSTHAN": "COMPARE_GREATERTHAN",
    "COMPARE_GREATERTHAN": "COMPARE_LESSTHAN",
    "COMPARE_LESSTHANOREQUALTO": "COMPARE_GREATERTHANOREQUALTO",
    "COMPARE_GREATERTHANOREQUALTO": "COMPARE_LESSTHANOREQUALTO",
}
_EVERYTHING = None


def partition_filters(
    tree: Any, column: str, params: Mapping[str, Any] | Sequence[Any] | None
) -> dict[TableName, Predicate | None]:
    """For each table the query names: a test of which partition keys it can touch, or
    None when it may touch all of them."""
    found: dict[TableName, list[Predicate | None]] = {}
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "SELECT_NODE":
                table = node.get("from_table") or {}
                if table.get("type") == "BASE_TABLE":
                    name = (table.get("schema_name") or "", table.get("table_name") or "")
                    aliases = {table.get("table_name"), table.get("alias")} - {None, ""}
                    where = node.get("where_clause")
                    test = _predicate(where, column, aliases, params) if where else _EVERYTHING
                    found.setdefault(name, []).append(test)
                    stack.extend(v for k, v in node.items() if k != "from_table")
                    continue
            elif node.get("type") == "BASE_TABLE":  # in a join, or anywhere else: all partitions
                name = (node.get("schema_name") or "", node.get("table_name") or "")
                found.setdefault(name, []).append(_EVERYTHING)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return {name: _any(tests) for name, tests in found.items()}


def _any(tests: list[Predicate | None]) -> Predicate | None:
    if any(t is None for t in tests):
        return None
    chosen = [t for t in tests if t is not None]
    return lambda key: any(t(key) for t in chosen)


def _predicate(
    node: Any, column: str, aliases: set[str], params: Mapping[str, Any] | Sequence[Any] | None
) -> Predicate | None:
    """The partition keys `node` can hold for; None when it says nothing usable about them."""
    if not isinstance(node, dict):
        return None
    kind = node.get("type")
    if kind == "CONJUNCTION_AND":
        parts = [_predicate(c, column, aliases, params) for c in node.get("children", [])]
        known = [p for p in parts if p is not None]
        return (lambda key: all(p(key) for p in known)) if known else None
    if kind == "CONJUNCTION_OR":
        parts = [_predicate(c, column, aliases, params) for c in node.get("children", [])]
        if not parts or any(p is None for p in parts):
            return None
        chosen = [p for p in parts if p is not None]
        return lambda key: any(p(key) for p in chosen)
    if kind in _COMPARE:
        left, right = node.get("left"), node.get("right")
        if _is_column(left, column, aliases):
            value, compare = _day(right, params), _COMPARE[kind]
        elif _is_column(right, column, aliases):
            value, compare = _day(left, params), _COMPARE[_MIRROR.get(kind, kind)]
        else:
            return None
        return None if value is None else (lambda key: compare(key, value))
    if kind == "COMPARE_BETWEEN" and _is_column(node.get("input"), column, aliases):
        low, high = _day(node.get("lower"), params), _day(node.get("upper"), params)
        if low is None or high is None:
            return None
        return lambda key: low <= key <= high
    if kind == "COMPARE_IN":
        first, *values = node.get("children", [None])
        days = [_day(v, params) for v in values]
        if not _is_column(first, column, aliases) or not days or any(d is None for d in days):
            return None
        allowed = set(days)
        return lambda key: key in allowed
    return None


def _is_column(node: Any, column: str, aliases: set[str]) -> bool:
    if not isinstance(node, dict) or node.get("type") != "COLUMN_REF":
        return False
    names = node.get("column_names") or []
    return names[-1:] == [column] and (len(names) == 1 or (len(names) == 2 and names[0] in aliases))


def _day(node: Any, params: Mapping[str, Any] | Sequence[Any] | None) -> str | None:
    """A `YYYY-MM-DD` day the expression is a constant for, else None."""
    if not isinstance(node, dict):
        return None
    kind = node.get("type")
    value: Any = None
    if kind == "VALUE_CONSTANT":
        literal = node.get("literal") or {}
        value = literal.get("text") if literal.get("kind") == "STRING" else None
        if value is None and isinstance(node.get("value"), dict):  # older serializations
            value = node["value"].get("value")
    elif kind == "OPERATOR_CAST":
        type_name = str((node.get("type_expr") or {}).get("type_name", "")).upper()
        if type_name not in ("DATE", "VARCHAR", "TEXT", "STRING"):
            return None
        return _day(node.get("child"), params)
    elif kind == "VALUE_PARAMETER" and params is not None:
        identifier = str(node.get("identifier", ""))
        if isinstance(params, Mapping):
            value = params.get(identifier)
        elif identifier.isdigit() and 0 < int(identifier) <= len(params):
            value = params[int(identifier) - 1]
    if isinstance(value, date):
        value = value.isoformat() if type(value) is date else None
    if not isinstance(value, str) or not _DAY.match(value):
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        return None
    return value
