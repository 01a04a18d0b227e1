"""The errors each API operation can answer, declared next to its view and published in OpenAPI.

A view lists the domain errors its own code and the services it calls can raise:

    @router.post("/orders/{order_no}/cancel", response=OrderDetailOut)
    @raises(OrderNotFound, OrderStateInvalid)
    def orders_cancel(request, order_no): ...

and `ErrorDocumentedSchema` renders them into the operation's `responses`, one entry per HTTP
status: the description lists each machine code with its Chinese message, and the schema is the
error envelope `{"code", "message", "detail"}` with `code` an `enum` of exactly those codes.

The errors every operation can answer by construction are added here, never repeated per view:
422 `validation_error` when it takes parameters or a body, 400 `malformed_request` and 413
`payload_too_large` for methods that carry a body (the body-size middleware and the JSON parser
answer them), 401 `not_authenticated` plus what each auth class declares when it needs a caller,
429 when a ninja throttle guards it, 500 `internal_error` everywhere, and 503
`database_unavailable` / `service_unavailable` everywhere (the database or Redis not answering,
`core.outages`; the answer carries `Retry-After`).
`tests/core/test_openapi_errors.py` proves by static analysis that every code a view can raise is
listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from freshloop.core.errors import DatabaseUnavailable, DomainError
from freshloop.core.http import STATUS_ERRORS

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])

DECLARED_ERRORS_ATTRIBUTE = "__freshloop_errors__"
# Methods whose body the size limit and the JSON parser look at (core.middleware).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, order=True)
class ErrorDoc:
    """One documented error: what a client sees in the status line and in `code` / `message`."""

    status: int
    code: str
    message: str

    @classmethod
    def of(cls, error: type[DomainError]) -> ErrorDoc:
        return cls(status=error.status, code=error.code, message=error.message)

    @classmethod
    def for_status(cls, status: int) -> ErrorDoc:
        """The default error the API answers with `status` when nothing more specific applies."""
        code, message = STATUS_ERRORS[status]
        return cls(status=status, code=code, message=message)


def raises(*errors: type[DomainError]) -> Callable[[ViewFunc], ViewFunc]:
    """Declare the domain errors a view can answer (its own and those of what it calls).

    Works above or below the router decorator: ninja keeps the same function object.
    """
    for error in errors:
        if not (isinstance(error, type) and issubclass(error, DomainError)):
            raise TypeError(f"raises() takes DomainError subclasses, not {error!r}")

    def declare(view: ViewFunc) -> ViewFunc:
        setattr(view, DECLARED_ERRORS_ATTRIBUTE, (*declared_errors(view), *errors))
        return view

    return declare


def declared_errors(view: Callable[..., Any]) -> tuple[type[DomainError], ...]:
    errors: tuple[type[DomainError], ...] = getattr(view, DECLARED_ERRORS_ATTRIBUTE, ())
    return errors


def auth_errors(auth: object) -> tuple[type[DomainError], ...]:
    """What an auth callable declares it raises (`declared_errors` class attribute)."""
    errors: tuple[type[DomainError], ...] = getattr(auth, "declared_errors", ())
    return errors


def operation_errors(operation: Operation, *, has_parameters: bool) -> list[ErrorDoc]:
    """Every error `operation` can answer: its declared ones and those that come with its shape."""
    docs = [ErrorDoc.of(error) for error in declared_errors(operation.view_func)]
    if has_parameters:
        docs.append(ErrorDoc.for_status(422))
    if BODY_METHODS.intersection(operation.methods):
        docs += [ErrorDoc.for_status(400), ErrorDoc.for_status(413)]
    if operation.auth_callbacks:
        # Ninja answers 401 itself when no auth callable accepts the caller.
        docs.append(ErrorDoc.for_status(401))
        for auth in operation.auth_callbacks:
            docs += [ErrorDoc.of(error) for error in auth_errors(auth)]
    if operation.throttle_objects:
        docs.append(ErrorDoc.for_status(429))
    docs.append(ErrorDoc.for_status(500))
    # Any operation can meet a dependency outage; core.outages answers it (never a 500).
    docs += [ErrorDoc.of(DatabaseUnavailable), ErrorDoc.for_status(503)]
    # One entry per code: a declared error's own message wins over the generic one.
    unique: dict[tuple[int, str], ErrorDoc] = {}
    for doc in docs:
        unique.setdefault((doc.status, doc.code), doc)
    return sorted(unique.values())


ENVELOPE_SCHEMA_NAME = "ApiError"
ENVELOPE_SCHEMA: dict[str, Any] = {
    "title": ENVELOPE_SCHEMA_NAME,
    "type": "object",
    "required": ["code", "message", "detail"],
    "properties": {
        "code": {"type": "string", "description": "机器可读的错误码，稳定不变"},
        "message": {"type": "string", "description": "可直接展示给用户的中文说明"},
        "detail": {
            "description": "错误的具体信息，可能为 null。字段问题（validation_error 及"
            "address_invalid 等）是列表，每项 {field: 字段路径如 address.phone, "
            "message: 指明该字段的中文句子如 请填写收货人手机号}"
        },
    },
}


def _envelope_schema(codes: list[str]) -> dict[str, Any]:
    """The shared envelope, with `code` narrowed to what this status can carry here."""
    return {
        "allOf": [
            {"$ref": f"#/components/schemas/{ENVELOPE_SCHEMA_NAME}"},
            {"type": "object", "properties": {"code": {"type": "string", "enum": codes}}},
        ]
    }


def _describe(docs: Iterable[ErrorDoc]) -> str:
    return "\n".join(f"- `{doc.code}`：{doc.message}" for doc in docs)


def error_responses(
    docs: list[ErrorDoc], documented: dict[int, Any], *, media_type: str = "application/json"
) -> dict[int, dict[str, Any]]:
    """OpenAPI response objects for `docs`, one per status.

    A status the operation documents itself (`documented`, e.g. a payment callback's own ack
    bodies) keeps its content; its codes are added to the description only.
    `x-error-codes` lists the codes of every entry for tools (and the test) to read.
    """
    by_status: dict[int, list[ErrorDoc]] = {}
    for doc in docs:
        by_status.setdefault(doc.status, []).append(doc)
    responses: dict[int, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        codes = sorted({doc.code for doc in group})
        own = documented.get(status)
        if own is not None:
            responses[status] = {
                **own,
                "description": f"{own.get('description', '')}\n\n统一错误格式的错误码：\n"
                + _describe(group),
                "x-error-codes": codes,
            }
            continue
        response: dict[str, Any] = {
            "description": f"{HTTPStatus(status).phrase}\n\n" + _describe(group),
            "x-error-codes": codes,
            "content": {
                media_type: {
                    "schema": _envelope_schema(codes),
                    "examples": {
                        doc.code: {
                            "summary": doc.message,
                            "value": {"code": doc.code, "message": doc.message, "detail": None},
                        }
                        for doc in group
                    },
                }
            },
        }
        if status == 429:
            response["headers"] = {
                "Retry-After": {"description": "几秒后可以重试", "schema": {"type": "integer"}}
            }
        responses[status] = response
    return responses


class ErrorDocumentedSchema(OpenAPISchema):
    """Ninja's OpenAPI schema with every operation's error responses filled in.

    `operations` maps each operation id to its ninja `Operation`, for tools that check the
    document against the code.
    """

    def __init__(self, api: NinjaAPI, path_prefix: str) -> None:
        self.operations: dict[str, Operation] = {}
        super().__init__(api, path_prefix)

    def operation_details(self, operation: Operation) -> dict[str, Any]:
        result: dict[str, Any] = super().operation_details(operation)
        self.operations[result["operationId"]] = operation
        self.schemas[ENVELOPE_SCHEMA_NAME] = ENVELOPE_SCHEMA
        docs = operation_errors(
            operation, has_parameters=bool(result["parameters"] or "requestBody" in result)
        )
        responses = result["responses"]
        responses.update(
            error_responses(
                docs, responses, media_type=self.api.renderer.media_type or "application/json"
            )
        )
        result["responses"] = dict(sorted(responses.items()))
        return result
