"""Static analysis for tests: which `DomainError`s can a function raise?

The function is parsed with `ast`, and every call whose target resolves — through its globals,
closure, function-level imports, `self`/`cls`, locals built from a known class or annotated with
one — to a function or method inside the analysed packages is followed transitively.
`raise X(...)` / `raise X` of a `DomainError` subclass counts, so does `raise helper(...)` where
the helper returns such an error; an error caught by an `except` around the call in the same
function is dropped unless the handler re-raises it. Calls that cannot be resolved (a provider
chosen at run time, a value of unknown type) are not followed, so the analysis can miss an error;
what it reports is a path that exists in the source (it does not judge whether a guard makes the
path unreachable at run time). Used by `test_openapi_errors.py`.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import textwrap
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from freshloop.core.errors import DomainError

ANALYSED_PACKAGES = ("freshloop.",)


@dataclass(frozen=True)
class _Instance:
    """A value known to be an instance of `cls` (a parameter, `x = Cls(...)`, `self`)."""

    cls: type


@dataclass
class _Scope:
    namespace: dict[str, Any]
    owner: type | None
    locals: dict[str, Any] = field(default_factory=dict)
    # Names the function binds itself whose value is unknown: they hide globals of the same name.
    shadowed: set[str] = field(default_factory=set)
    nested: dict[str, ast.AST] = field(default_factory=dict)


# An error class and the call chain that reaches its `raise`, for readable failures.
Raised = dict[type[DomainError], str]


def _is_domain_error(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, DomainError)


class RaiseFinder:
    def __init__(self, packages: Iterable[str] = ANALYSED_PACKAGES) -> None:
        self.packages = tuple(packages)
        self._facts: dict[tuple[object, type | None], tuple[Raised, Raised]] = {}
        self._active: set[tuple[object, type | None]] = set()
        # Functions found already being analysed (recursion), in order of discovery.
        self._cycles: list[tuple[object, type | None]] = []

    # public face

    def raises(self, func: Callable[..., Any], owner: type | None = None) -> Raised:
        return self._analyse(func, owner)[0]

    def auth_raises(self, auth: object) -> Raised:
        call = inspect.getattr_static(type(auth), "__call__", None)
        return self.raises(call, type(auth)) if inspect.isfunction(call) else {}

    # one function

    def _inside(self, func: object) -> bool:
        module = getattr(func, "__module__", "") or ""
        return module.startswith(self.packages) or module in self.packages

    def _analyse(self, func: Any, owner: type | None) -> tuple[Raised, Raised]:
        """(errors it raises, errors it returns) for a function inside the analysed packages."""
        if not inspect.isfunction(func):
            return {}, {}
        func = inspect.unwrap(func)
        if not inspect.isfunction(func) or not self._inside(func):
            return {}, {}
        key = (func.__code__, owner)
        if key in self._facts:
            return self._facts[key]
        if key in self._active:
            self._cycles.append(key)
            return {}, {}  # recursion: the outer call collects what the cycle raises
        cycles_before = len(self._cycles)
        self._active.add(key)
        try:
            node = self._parse(func)
            if node is None:
                facts: tuple[Raised, Raised] = ({}, {})
            else:
                namespace = dict(func.__globals__)
                if func.__closure__:
                    for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
                        try:
                            namespace[name] = cell.cell_contents
                        except ValueError:  # an empty cell
                            continue
                scope = _Scope(namespace=namespace, owner=owner)
                facts = self._function_facts(node, scope)
        finally:
            self._active.discard(key)
        # A result that cut a cycle short at a caller still being analysed lacks the caller's
        # errors; only complete results are remembered.
        if not any(cut in self._active for cut in self._cycles[cycles_before:]):
            self._facts[key] = facts
        return facts

    @staticmethod
    def _parse(func: Callable[..., Any]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        try:
            source = textwrap.dedent(inspect.getsource(func))
        except (OSError, TypeError):
            return None  # generated code (dataclass __init__): nothing of ours raises there
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
        return None

    def _function_facts(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope
    ) -> tuple[Raised, Raised]:
        self._learn_locals(node, scope)
        raised = self._block(node.body, scope)
        returned: Raised = {}
        for child in ast.walk(node):
            if isinstance(child, ast.Return) and child.value is not None:
                returned |= self._error_value(child.value, scope)
        return raised, returned

    def _learn_locals(self, node: ast.AST, scope: _Scope) -> None:
        """Types of parameters and locals, so `x.method()` can be followed."""
        scope.shadowed = _bound_names(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            if scope.owner is not None and every and every[0].annotation is None:
                # self is an instance; a classmethod's cls is the class, so `return cls(...)`
                # of an error's constructor (`AddressInvalid.for_fields`) is that error
                classmethod_ = any(
                    isinstance(decorator, ast.Name) and decorator.id == "classmethod"
                    for decorator in node.decorator_list
                )
                scope.locals[every[0].arg] = scope.owner if classmethod_ else _Instance(scope.owner)
            for argument in every:
                if argument.annotation is not None:
                    cls = self._annotation_class(argument.annotation, scope)
                    if cls is not None:
                        scope.locals[argument.arg] = _Instance(cls)
        for child in ast.walk(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                scope.locals.update(_imported(child, scope))
        for child in ast.walk(node):
            if child is not node and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                scope.nested[child.name] = child
            elif isinstance(child, ast.Assign) and len(child.targets) == 1:
                target = child.targets[0]
                if isinstance(target, ast.Name) and isinstance(child.value, ast.Call):
                    made = self._resolve(child.value.func, scope)
                    if isinstance(made, type):
                        scope.locals[target.id] = _Instance(made)
            elif isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name):
                cls = self._annotation_class(child.annotation, scope)
                if cls is not None:
                    scope.locals[child.target.id] = _Instance(cls)

    def _annotation_class(self, annotation: ast.expr, scope: _Scope) -> type | None:
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(annotation, ast.BinOp):  # X | None
            return self._annotation_class(annotation.left, scope) or self._annotation_class(
                annotation.right, scope
            )
        value = self._resolve(annotation, scope)
        return value if isinstance(value, type) and self._inside(value) else None

    # names and attributes

    def _resolve(self, expr: ast.expr, scope: _Scope) -> Any:
        if isinstance(expr, ast.Name):
            if expr.id in scope.locals:
                return scope.locals[expr.id]
            if expr.id in scope.shadowed:
                return None
            if expr.id in scope.namespace:
                return scope.namespace[expr.id]
            return getattr(builtins, expr.id, None)
        if isinstance(expr, ast.Attribute):
            base = self._resolve(expr.value, scope)
            if isinstance(base, _Instance):
                return self._member(base.cls, expr.attr)
            if isinstance(base, types.ModuleType):
                return getattr(base, expr.attr, None)
            if isinstance(base, type):
                return self._member(base, expr.attr)
            return None
        if isinstance(expr, ast.Call):
            made = self._resolve(expr.func, scope)
            if isinstance(made, type):
                return _Instance(made)
        return None

    @staticmethod
    def _member(cls: type, name: str) -> Any:
        """A class member without running descriptors; methods come back with their class."""
        try:
            member = inspect.getattr_static(cls, name)
        except AttributeError:
            return None
        if isinstance(member, staticmethod | classmethod):
            member = member.__func__
        if inspect.isfunction(member):
            return _Method(member, cls)
        return member

    # statements and expressions

    def _block(self, statements: Iterable[ast.stmt], scope: _Scope) -> Raised:
        raised: Raised = {}
        for statement in statements:
            raised = merge(raised, self._statement(statement, scope))
        return raised

    def _statement(self, node: ast.AST, scope: _Scope) -> Raised:
        if isinstance(node, ast.Try | ast.TryStar):
            return self._try(node, scope)
        if isinstance(node, ast.ClassDef):
            return {}
        raised: Raised = {}
        if isinstance(node, ast.Raise) and node.exc is not None:
            raised = self._error_value(node.exc, scope)
        if isinstance(node, ast.Call):
            raised = merge(raised, self._call(node, scope))
        for child in ast.iter_child_nodes(node):
            raised = merge(raised, self._statement(child, scope))
        return raised

    def _try(self, node: ast.Try | ast.TryStar, scope: _Scope) -> Raised:
        unhandled = dict(self._block(node.body, scope))
        escaping: Raised = {}
        for handler in node.handlers:
            caught = self._caught(handler.type, scope)
            matched = {
                error: path for error, path in unhandled.items() if issubclass(error, caught)
            }
            for error in matched:
                del unhandled[error]
            if _reraises(handler):
                escaping = merge(escaping, matched)
            escaping = merge(escaping, self._block(handler.body, scope))
        for tail in (node.orelse, node.finalbody):
            escaping = merge(escaping, self._block(tail, scope))
        return merge(unhandled, escaping)

    def _caught(self, expr: ast.expr | None, scope: _Scope) -> tuple[type, ...]:
        if expr is None:
            return (BaseException,)
        candidates = expr.elts if isinstance(expr, ast.Tuple) else [expr]
        resolved = [self._resolve(candidate, scope) for candidate in candidates]
        return tuple(
            value
            for value in resolved
            if isinstance(value, type) and issubclass(value, BaseException)
        )

    def _call(self, node: ast.Call, scope: _Scope) -> Raised:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name in scope.nested and name not in scope.locals and name not in scope.namespace:
            nested = scope.nested[name]
            assert isinstance(nested, ast.FunctionDef | ast.AsyncFunctionDef)
            return self._block(nested.body, scope)
        target = self._resolve(node.func, scope)
        if isinstance(target, _Method):
            return _via(target.func.__qualname__, self._analyse(target.func, target.owner)[0])
        if _is_domain_error(target):
            return {}  # building an error is not raising it
        if isinstance(target, type) and self._inside(target):
            raised: Raised = {}
            for hook in ("__init__", "__post_init__"):
                member = self._member(target, hook)
                if isinstance(member, _Method):
                    raised = merge(raised, self._analyse(member.func, target)[0])
            return _via(target.__qualname__, raised)
        if callable(target):
            return _via(getattr(target, "__qualname__", "?"), self._analyse(target, None)[0])
        return {}

    def _error_value(self, expr: ast.expr, scope: _Scope) -> Raised:
        """The DomainErrors an expression evaluates to: `Cls(...)`, `Cls`, a local built from
        one, or the errors a helper returns (`raise order_missing(...)`)."""
        if isinstance(expr, ast.Call):
            target = self._resolve(expr.func, scope)
            if _is_domain_error(target):
                return {target: f"raise {target.__name__}"}
            if isinstance(target, _Method):
                return _via(target.func.__qualname__, self._analyse(target.func, target.owner)[1])
            if callable(target) and not isinstance(target, type):
                return _via(getattr(target, "__qualname__", "?"), self._analyse(target, None)[1])
            return {}
        value = self._resolve(expr, scope)
        if _is_domain_error(value):
            return {value: f"raise {value.__name__}"}
        if isinstance(value, _Instance) and _is_domain_error(value.cls):
            return {value.cls: f"raise {value.cls.__name__}"}
        return {}


@dataclass(frozen=True)
class _Method:
    func: types.FunctionType
    owner: type


def _bound_names(function: ast.AST) -> set[str]:
    """Every plain name a function binds: parameters, assignment and loop targets, `as` names."""
    bound: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def _imported(node: ast.Import | ast.ImportFrom, scope: _Scope) -> dict[str, Any]:
    """Names bound by an import inside a function (used to dodge import cycles)."""
    bound: dict[str, Any] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                bound[alias.asname] = importlib.import_module(alias.name)
            else:
                top = alias.name.split(".")[0]
                bound[top] = importlib.import_module(top)
        return bound
    package = scope.namespace.get("__package__") or ""
    module = importlib.import_module("." * node.level + (node.module or ""), package or None)
    for alias in node.names:
        value = getattr(module, alias.name, None)
        if value is None:  # a submodule not imported yet
            value = importlib.import_module(f"{module.__name__}.{alias.name}")
        bound[alias.asname or alias.name] = value
    return bound


def merge(first: Raised, second: Raised) -> Raised:
    return {**second, **first} if second else first


def _via(name: str, raised: Raised) -> Raised:
    return {error: f"{name} → {path}" for error, path in raised.items()}


def _reraises(handler: ast.ExceptHandler) -> bool:
    """The handler ends in `raise` or `raise <its own name>`: what it caught escapes."""
    for node in ast.walk(handler):
        if isinstance(node, ast.Raise):
            if node.exc is None:
                return True
            if isinstance(node.exc, ast.Name) and node.exc.id == handler.name:
                return True
    return False
