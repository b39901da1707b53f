"""`${...}` expressions: a tiny arithmetic language parsed with `ast`, never evaluated by Python."""
from __future__ import annotations

import ast
import math
import operator
import re
from typing import Callable, Mapping, Union

Number = Union[int, float]

_BINARY: dict[type, Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Number], Number]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "min": min,
    "max": max,
    "round": round,
    "int": int,
    "floor": math.floor,
    "ceil": math.ceil,
}
MAX_MAGNITUDE = 10**15
MAX_EXPR_CHARS = 200

PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}")


class ExprError(ValueError):
    """A `${...}` expression that is not valid arithmetic over known variables."""


class _Unsupported(Exception):
    def __init__(self, node: ast.AST) -> None:
        self.node = node


def evaluate(text: str, variables: Mapping[str, object]) -> Number:
    """Evaluate `2*n + 1` over numeric variables: + - * / // % **, parentheses, min/max/round/int/floor/ceil."""
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression longer than {MAX_EXPR_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: a NUL byte
        raise ExprError(f"not an arithmetic expression: {text.strip()!r}") from None
    try:
        return _eval(tree.body, variables)
    except RecursionError:
        raise ExprError("expression nested too deeply") from None
    except _Unsupported as exc:  # name the offending part as written, not as a parse tree
        part = ast.get_source_segment(text.strip(), exc.node) or type(exc.node).__name__
        raise ExprError(f"{part!r} is not allowed in an expression: only numbers, variables, "
                        "+ - * / // % ** and min/max/round/int/floor/ceil") from None


def _check(value: object) -> Number:
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # `(-1) ** 0.5` is complex
        raise ExprError("result is not a real number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError("result is not a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise ExprError(f"result {value:.3g} is too large (limit {MAX_MAGNITUDE:.0e})")
    return value


def _eval(node: ast.AST, variables: Mapping[str, object]) -> Number:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return _check(node.value)
    if isinstance(node, ast.Name):
        if node.id not in variables:
            known = ", ".join(sorted(variables)) or "none defined"
            raise ExprError(f"unknown variable {node.id!r} (vars: {known})")
        value = variables[node.id]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExprError(f"variable {node.id!r} is not a number: {value!r}")
        return value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, variables), _eval(node.right, variables)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > MAX_MAGNITUDE):
            raise ExprError("exponent too large")
        try:
            return _check(_BINARY[type(node.op)](left, right))
        except ExprError:
            raise
        except ZeroDivisionError:
            raise ExprError("division by zero") from None
        except OverflowError:
            raise ExprError(f"result is too large (limit {MAX_MAGNITUDE:.0e})") from None
        except (TypeError, ValueError) as exc:
            raise ExprError(f"cannot compute: {exc}") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check(_UNARY[type(node.op)](_eval(node.operand, variables)))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and node.args
    ):
        args = [_eval(a, variables) for a in node.args]
        if node.func.id == "round" and len(args) == 2 and not (isinstance(args[1], int) and abs(args[1]) <= 20):
            raise ExprError("round(x, digits): digits must be an integer from -20 to 20")
        try:
            return _check(_FUNCTIONS[node.func.id](*args))
        except ExprError:
            raise
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise ExprError(f"{node.func.id}(): {exc}") from None
    raise _Unsupported(node)


def substitute(value: str, variables: Mapping[str, object]) -> object:
    """'${2*n}' -> number; 'resnet${6*n+2}' -> string with the number spliced in; other strings unchanged."""
    whole = PLACEHOLDER.fullmatch(value.strip())
    if whole:
        result = evaluate(whole.group(1), variables)
        if isinstance(result, float) and result.is_integer():
            return int(result)
        return result

    def splice(match: re.Match) -> str:
        result = evaluate(match.group(1), variables)
        if isinstance(result, float) and result.is_integer():
            result = int(result)
        return str(result)

    if "${" not in value:
        return value
    out = PLACEHOLDER.sub(splice, value)
    if "${" in out:
        raise ExprError("unbalanced '${' in string")
    return out


def names_in(value: str) -> set[str]:
    """The variable names the `${...}` parts of a string use (empty when one does not parse)."""
    names: set[str] = set()
    for match in PLACEHOLDER.finditer(value):
        try:
            tree = ast.parse(match.group(1).strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return names
