"""Every API operation's OpenAPI entry lists every error code its code can raise.

"Can raise" is what `raise_analysis.RaiseFinder` finds by static analysis of the view and of each
auth callable guarding it, following everything they call inside `freshloop`. The check also
fails when a view declares a code that no path raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from ninja import Router, Schema
from ninja.operation import Operation

from config.api import api
from freshloop.core.api import ApiKeyAuth, FreshLoopAPI, OperatorAuth
from freshloop.core.api_errors import ErrorDocumentedSchema, auth_errors, declared_errors, raises
from freshloop.core.errors import Conflict, InvalidInput, NotFound
from freshloop.identity.auth import ConsumerAuth
from tests.core.raise_analysis import ANALYSED_PACKAGES, RaiseFinder, merge

# --- the check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationReport:
    operation_id: str
    missing: dict[str, str]  # code -> where it is raised
    unraised: set[str]  # declared by the view but raised by no path the analysis found


def documented_codes(document: dict[str, Any], operation_id: str) -> set[str]:
    for methods in document["paths"].values():
        for operation in methods.values():
            if operation["operationId"] == operation_id:
                return {
                    code
                    for response in operation["responses"].values()
                    for code in response.get("x-error-codes", [])
                }
    raise KeyError(operation_id)


def check_operation(
    finder: RaiseFinder, operation_id: str, operation: Operation, document: dict[str, Any]
) -> OperationReport:
    raised = finder.raises(operation.view_func)
    for auth in operation.auth_callbacks:
        raised = merge(raised, finder.auth_raises(auth))
    listed = documented_codes(document, operation_id)
    missing = {error.code: path for error, path in raised.items() if error.code not in listed}
    found = {error.code for error in raised}
    unraised = {error.code for error in declared_errors(operation.view_func)} - found
    return OperationReport(operation_id, missing, unraised)


def _schema_of(ninja_api: FreshLoopAPI) -> ErrorDocumentedSchema:
    return ninja_api.get_openapi_schema(path_prefix="/api/v1/")


def _module_of(operation: Operation) -> str:
    parts = operation.view_func.__module__.split(".")
    return parts[1] if parts[0] == "freshloop" and len(parts) > 1 else parts[0]


CHECKED: dict[str, Operation] = dict(sorted(_schema_of(api).operations.items()))


@pytest.fixture(scope="module")
def served_document() -> dict[str, Any]:
    """The document integrators read, fetched from its URL."""
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="module")
def finder() -> RaiseFinder:
    return RaiseFinder()


@pytest.mark.parametrize("operation_id", sorted(CHECKED))
def test_operation_lists_every_code_it_can_raise(
    operation_id: str, served_document: dict[str, Any], finder: RaiseFinder
) -> None:
    report = check_operation(finder, operation_id, CHECKED[operation_id], served_document)
    assert not report.missing, (
        f"{operation_id} can raise codes its OpenAPI entry does not list; declare them with "
        f"@raises(...): "
        + "; ".join(f"{code} (via {path})" for code, path in sorted(report.missing.items()))
    )
    assert not report.unraised, (
        f"{operation_id} declares codes no path of its code raises: {sorted(report.unraised)}"
    )


def test_every_module_with_an_api_is_checked() -> None:
    # a schema that lost its operations would otherwise pass by checking nothing
    modules = {_module_of(operation) for operation in CHECKED.values()}
    assert {"identity", "orders", "payments", "promotions", "live", "datahub"} <= modules
    assert len(CHECKED) >= 50


class TestErrorResponsesInTheDocument:
    def test_each_error_status_lists_its_codes_as_an_enum_with_examples(
        self, served_document: dict[str, Any]
    ) -> None:
        cancel = served_document["paths"]["/api/v1/shop/orders/{order_no}/cancel"]["post"]
        conflict = cancel["responses"]["409"]
        assert "`order_state_invalid`：订单当前状态不允许此操作" in conflict["description"]
        content = conflict["content"]["application/json"]
        envelope, narrowed = content["schema"]["allOf"]
        assert envelope == {"$ref": "#/components/schemas/ApiError"}
        assert narrowed["properties"]["code"]["enum"] == conflict["x-error-codes"]
        assert "order_state_invalid" in conflict["x-error-codes"]
        shared = served_document["components"]["schemas"]["ApiError"]
        assert shared["required"] == ["code", "message", "detail"]
        assert content["examples"]["order_state_invalid"]["value"] == {
            "code": "order_state_invalid",
            "message": "订单当前状态不允许此操作",
            "detail": None,
        }

    def test_errors_that_come_with_the_shape_of_an_operation_are_added_centrally(
        self, served_document: dict[str, Any]
    ) -> None:
        verify = served_document["paths"]["/api/v1/auth/otp/verify"]["post"]["responses"]
        assert verify["400"]["x-error-codes"] == ["malformed_request", "otp_invalid"]
        assert "payload_too_large" in verify["413"]["x-error-codes"]
        assert "validation_error" in verify["422"]["x-error-codes"]
        assert verify["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
        assert verify["500"]["x-error-codes"] == ["internal_error"]
        assert "401" not in verify  # no auth on login
        me = served_document["paths"]["/api/v1/me"]["get"]["responses"]
        assert me["401"]["x-error-codes"] == ["not_authenticated", "token_invalid"]
        assert "403" in me
        assert "422" not in me  # no parameters
        assert "413" not in me  # no body

    def test_a_status_the_operation_documents_itself_keeps_its_content(
        self, served_document: dict[str, Any]
    ) -> None:
        notify = served_document["paths"]["/api/v1/payments/notify/{provider}"]["post"]
        server_error = notify["responses"]["500"]
        assert "content" not in server_error  # the provider's own ack body, not our envelope
        assert server_error["x-error-codes"] == ["internal_error"]

    def test_the_document_is_valid_openapi_3_1(self, served_document: dict[str, Any]) -> None:
        from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

        errors = [str(error) for error in OPENAPI_31_VALIDATOR.iter_errors(served_document)]
        assert errors == []

    def test_the_docs_page_still_renders(self) -> None:
        assert Client().get("/api/v1/docs").status_code == 200


# --- the checker can fail -------------------------------------------------------------------


class ParcelLost(NotFound):
    code = "parcel_lost"
    message = "包裹丢失"


class ParcelHeld(Conflict):
    code = "parcel_held"
    message = "包裹被扣留"


class ParcelIn(Schema):
    number: str


def _parcel_find(number: str) -> None:
    if number.startswith("X"):
        raise ParcelLost(detail={"number": number})


def _parcel_hold_error(number: str) -> ParcelHeld:
    return ParcelHeld(detail={"number": number})


class _ParcelDesk:
    def release(self, number: str) -> None:
        self._check(number)

    def _check(self, number: str) -> None:
        if not number:
            raise InvalidInput("请填写单号")


def _throwaway_api() -> tuple[FreshLoopAPI, RaiseFinder]:
    router = Router()

    @router.post("/parcels/undeclared")
    def parcel_undeclared(request: Any, body: ParcelIn) -> dict[str, str]:
        _parcel_find(body.number)
        if body.number.endswith("H"):
            raise _parcel_hold_error(body.number)
        _ParcelDesk().release(body.number)
        return {}

    @router.post("/parcels/declared", auth=OperatorAuth())
    @raises(ParcelLost, ParcelHeld, InvalidInput)
    def parcel_declared(request: Any, body: ParcelIn) -> dict[str, str]:
        return parcel_undeclared(request, body)

    @router.post("/parcels/caught")
    def parcel_caught(request: Any, body: ParcelIn) -> dict[str, str]:
        try:
            _parcel_find(body.number)
        except NotFound:
            return {"found": "no"}
        return {}

    @router.post("/parcels/reraised")
    def parcel_reraised(request: Any, body: ParcelIn) -> dict[str, str]:
        try:
            _parcel_find(body.number)
        except NotFound:
            body.number = ""
            raise
        return {}

    @router.post("/parcels/overdeclared")
    @raises(ParcelHeld)
    def parcel_overdeclared(request: Any, body: ParcelIn) -> dict[str, str]:
        return {}

    throwaway = FreshLoopAPI(urls_namespace="throwaway-openapi-errors")
    throwaway.add_router("/", router)
    return throwaway, RaiseFinder(packages=(*ANALYSED_PACKAGES, __name__))


@pytest.fixture(scope="module")
def reports() -> dict[str, OperationReport]:
    """The checker's verdict on each throw-away operation, by the last word of its name."""
    throwaway, finder = _throwaway_api()
    schema = _schema_of(throwaway)
    document = {"paths": schema["paths"]}
    return {
        operation_id.rsplit("_", 1)[-1]: check_operation(finder, operation_id, op, document)
        for operation_id, op in schema.operations.items()
    }


class TestCheckerCanFail:
    def test_an_undeclared_error_is_reported_with_its_path(
        self, reports: dict[str, OperationReport]
    ) -> None:
        missing = reports["undeclared"].missing
        assert set(missing) == {"parcel_lost", "parcel_held", "invalid_input"}
        assert missing["parcel_lost"] == "_parcel_find → raise ParcelLost"
        assert missing["parcel_held"] == "_parcel_hold_error → raise ParcelHeld"
        assert missing["invalid_input"].startswith("_ParcelDesk.release → _ParcelDesk._check")

    def test_declared_errors_and_auth_errors_pass(
        self, reports: dict[str, OperationReport]
    ) -> None:
        assert reports["declared"].missing == {}
        assert reports["declared"].unraised == set()

    def test_an_error_caught_around_the_call_is_not_counted(
        self, reports: dict[str, OperationReport]
    ) -> None:
        assert reports["caught"].missing == {}

    def test_an_error_caught_and_raised_again_is_counted(
        self, reports: dict[str, OperationReport]
    ) -> None:
        assert set(reports["reraised"].missing) == {"parcel_lost"}

    def test_a_declared_code_nothing_raises_is_flagged(
        self, reports: dict[str, OperationReport]
    ) -> None:
        assert reports["overdeclared"].unraised == {"parcel_held"}


@pytest.mark.parametrize("auth", [ApiKeyAuth("identity:read"), OperatorAuth(), ConsumerAuth()])
def test_auth_classes_declare_exactly_what_they_raise(auth: object) -> None:
    """An auth class's declared errors go into every operation it guards; ninja's own 401
    (no auth accepted the caller) is added centrally."""
    raised = {error.code for error in RaiseFinder().auth_raises(auth)}
    declared = {error.code for error in auth_errors(auth)}
    assert raised == declared, f"{type(auth).__name__}: raised {raised}, declared {declared}"
