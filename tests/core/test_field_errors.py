"""Issue #14 ("field-level errors everywhere"), done when: for every operation of the served
API that takes a JSON body, leaving out a required field or sending it as another JSON type
answers a 422 whose `detail` names that field's path and whose message is a Chinese sentence
naming the field by its title (请填写收货人手机号) — never the bare 请求参数不正确.

Derived from the published OpenAPI document, like test_request_schemas: a valid example body is
built from each schema, then each required field — at the top and in nested objects, list
items included (`items[0].quantity`) — is dropped, then garbled. A field typed `Any` (the
segment rule tree, documented inline and checked by the segment grammar, which answers
`segment_invalid` naming the rule) has no "other JSON type" and is only dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from tests.core.test_request_schemas import (
    BODY_OPERATIONS,
    HAND_PARSED,
    NOT_YET_STRICT,
    _document,
    _resolve,
    _send,
)

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
GENERIC = "请求参数不正确"
Step = str | int
_DROP = object()

OPERATIONS = [row for row in BODY_OPERATIONS if row[0] not in HAND_PARSED | NOT_YET_STRICT]


def _plain(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """The schema itself: `$ref` followed, `X | None` read as X."""
    schema = _resolve(schema, document)
    for key in ("anyOf", "oneOf", "allOf"):
        options = [option for option in schema.get(key, []) if option.get("type") != "null"]
        if options:
            return {**{k: v for k, v in schema.items() if k != key}, **_plain(options[0], document)}
    return schema


def _text(schema: dict[str, Any]) -> str:
    if schema.get("format") == "date":
        return "2026-12-01"
    if schema.get("format") == "date-time":
        return "2026-12-01T08:00:00+08:00"
    pattern = schema.get("pattern", "")
    alternatives = re.fullmatch(r"\^\(([^()]+)\)\$", pattern)
    if alternatives:
        return alternatives.group(1).split("|")[0]
    length = max(int(schema.get("minLength", 1)), 1)
    for candidate in ("1", "a", "x"):
        value = candidate * length
        if not pattern or re.search(pattern, value):
            return value
    raise AssertionError(f"no example for {schema}")


def _example(schema: dict[str, Any], document: dict[str, Any]) -> Any:
    """A value the schema accepts (its required fields only)."""
    schema = _plain(schema, document)
    if "enum" in schema:
        return next(value for value in schema["enum"] if value is not None)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: _example(properties[name], document) for name in schema.get("required", [])}
    if kind == "array":
        return [_example(schema["items"], document) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return _text(schema)
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return True
    return {}


def _wrong_type(schema: dict[str, Any], document: dict[str, Any]) -> Any:
    """A value of another JSON type than the schema's, or None for a field typed `Any` (no
    type, or a rule tree documented inline: the API's own objects are `$ref`s)."""
    if "properties" in schema and "$ref" not in schema:
        return None
    kind = _plain(schema, document).get("type")
    return {
        "object": "x",
        "array": "x",
        "string": 12345,
        "integer": "1",
        "number": "1",
        "boolean": "yes",
    }.get(kind)


def _is_model(schema: dict[str, Any], document: dict[str, Any]) -> bool:
    """An object the API's schemas define (a `$ref`), not free-form JSON documented inline."""
    options = [schema, *schema.get("anyOf", [])]
    return any("$ref" in option for option in options)


def _fields(
    schema: dict[str, Any], document: dict[str, Any], where: tuple[Step, ...] = ()
) -> Iterator[tuple[tuple[Step, ...], dict[str, Any], bool]]:
    """(path, schema, required) of every field of the body and of its nested objects."""
    schema = _plain(schema, document)
    required = set(schema.get("required", []))
    for name, child in schema.get("properties", {}).items():
        path = (*where, name)
        yield path, child, name in required
        plain = _plain(child, document)
        if _is_model(child, document):
            yield from _fields(child, document, path)
        elif plain.get("type") == "array" and _is_model(plain.get("items", {}), document):
            yield from _fields(plain["items"], document, (*path, 0))


def _field_path(steps: tuple[Step, ...]) -> str:
    path = ""
    for step in steps:
        path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else step)
    return path


def _body_with(
    schema: dict[str, Any], document: dict[str, Any], steps: tuple[Step, ...], value: Any
) -> dict[str, Any]:
    """The example body with the field at `steps` set to `value` (dropped when it is
    `_DROP`), the optional objects and lists on the way filled in."""
    body = _example(schema, document)
    holder: Any = body
    current = _plain(schema, document)
    for step in steps[:-1]:
        if isinstance(step, int):
            current = _plain(current["items"], document)
            if not holder:
                holder.append(_example(current, document))
            holder = holder[step]
            continue
        child = _plain(current["properties"][step], document)
        if step not in holder:
            holder[step] = [] if child.get("type") == "array" else _example(child, document)
        holder, current = holder[step], child
    if value is _DROP:
        holder.pop(steps[-1], None)
    else:
        holder[steps[-1]] = value
    return body


def _cases() -> Iterator[Any]:
    document = _document()
    for operation_id, method, path, schema in OPERATIONS:
        for steps, field_schema, required in _fields(schema, document):
            if not required:
                continue
            field = _field_path(steps)
            yield pytest.param(
                method,
                path,
                _body_with(schema, document, steps, _DROP),
                field,
                id=f"{operation_id}:drop:{field}",
            )
            garbled = _wrong_type(field_schema, document)
            if garbled is not None:
                yield pytest.param(
                    method,
                    path,
                    _body_with(schema, document, steps, garbled),
                    field,
                    id=f"{operation_id}:garble:{field}",
                )


CASES = list(_cases())


def test_the_walk_reaches_nested_and_listed_fields() -> None:
    ids = {case.id for case in CASES}
    assert "freshloop_orders_api_orders_create:drop:address.phone" in ids
    assert "freshloop_orders_api_preview:garble:items[0].quantity" in ids
    assert "freshloop_identity_api_request_code:drop:phone" in ids
    assert len({case_id.split(":")[0] for case_id in ids}) >= 20


def _assert_a_sentence(message: str, field: str) -> None:
    assert CJK.search(message), message
    assert not message.startswith(GENERIC), message
    # the field is named by its title, not by its path or key
    assert field not in message, message
    assert not re.search(r"[a-z]+_[a-z]+|\[\d+\]", message), message


@pytest.mark.parametrize(("method", "path", "body", "field"), CASES)
def test_a_missing_or_garbled_field_is_named_in_a_chinese_sentence(
    everyone: Client, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    # when the body lacks the field, or carries it as another JSON type
    response = _send(everyone, method, path, json.dumps(body))
    # then it is a 422 whose detail names the field's path (and only that field: the rest of
    # the example body was valid) with a Chinese sentence, and the message is that sentence
    assert response.status_code == 422, response.content[:300]
    envelope = response.json()
    assert envelope["code"] == "validation_error"
    problems = envelope["detail"]
    assert [problem["field"] for problem in problems] == [field], problems
    _assert_a_sentence(problems[0]["message"], field.rsplit(".", 1)[-1])
    assert envelope["message"] == problems[0]["message"]


def _properties(
    schema: Any, document: dict[str, Any], where: str, seen: frozenset[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema) of every property of a body, nested and inline ones included."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        if schema["$ref"] not in seen:
            yield from _properties(
                _resolve(schema, document), document, where, seen | {schema["$ref"]}
            )
        return
    for name, child in schema.get("properties", {}).items():
        path = f"{where}.{name}".lstrip(".")
        yield path, child
        yield from _properties(child, document, path, seen)
    for key in ("items", "additionalProperties"):
        yield from _properties(schema.get(key), document, f"{where}[]", seen)
    for key in ("anyOf", "allOf", "oneOf"):
        for child in schema.get(key, []):
            yield from _properties(child, document, where, seen)


@pytest.mark.parametrize(
    ("operation_id", "method", "path", "body_schema"),
    [row for row in BODY_OPERATIONS if row[0] not in HAND_PARSED],
    ids=[row[0] for row in BODY_OPERATIONS if row[0] not in HAND_PARSED],
)
def test_every_published_body_field_has_a_chinese_title(
    operation_id: str, method: str, path: str, body_schema: dict[str, Any]
) -> None:
    # given the published body schema: every property, in nested objects too, carries the
    # Chinese title its error sentences name it by (pydantic's default is the key, "Phone")
    untitled = [
        where
        for where, schema in _properties(body_schema, _document(), "", frozenset())
        if not CJK.search(str(schema.get("title", "")))
    ]
    assert not untitled, f"{method} {path}: give Field(title=...) to {untitled}"


class TestSentences:
    """What a shopper reads, for the checkout's address and items."""

    def _order(self, everyone: Client, **body: Any) -> Any:
        return _send(everyone, "POST", "/api/v1/shop/orders", json.dumps(body))

    def test_an_empty_phone_asks_for_it(self, everyone: Client) -> None:
        address = {
            "name": "张三",
            "phone": "",
            "province": "上海",
            "city": "上海",
            "detail": "1 号",
        }
        response = self._order(everyone, address=address)
        assert response.status_code == 422
        assert response.json()["message"] == "请填写收货人手机号"
        assert response.json()["detail"][0]["field"] == "address.phone"

    def test_a_listed_item_is_counted(self, everyone: Client) -> None:
        response = _send(
            everyone,
            "POST",
            "/api/v1/shop/checkout/preview",
            json.dumps({"items": [{"sku_id": 1, "quantity": 1}, {"sku_id": 2, "quantity": "2"}]}),
        )
        assert response.json()["message"] == "第 2 项商品的购买数量应为整数"
        assert response.json()["detail"][0]["field"] == "items[1].quantity"

    def test_too_long_says_the_limit(self, everyone: Client) -> None:
        address = {"name": "张" * 33, "phone": "13800000000", "province": "上海"}
        address |= {"city": "上海", "detail": "1 号"}
        response = self._order(everyone, address=address)
        assert response.json()["message"] == "收货人姓名最多 32 个字"

    def test_several_problems_are_counted_in_the_message(self, everyone: Client) -> None:
        response = self._order(everyone, address={"name": "张三"})
        body = response.json()
        assert body["message"] == "请填写收货人手机号（另有 3 处问题）"
        assert [problem["field"] for problem in body["detail"]] == [
            "address.phone",
            "address.province",
            "address.city",
            "address.detail",
        ]

    def test_an_unknown_key_still_says_the_key(self, everyone: Client) -> None:
        response = _send(
            everyone, "POST", "/api/v1/shop/checkout/preview", json.dumps({"coupon_idz": [1]})
        )
        assert response.json()["message"] == "未知字段 coupon_idz"

    def test_a_query_parameter_is_named_by_its_title(self, everyone: Client) -> None:
        response = everyone.get("/api/v1/membership/me/points?limit=500")
        assert response.status_code == 422
        assert response.json()["message"] == "每页条数不能大于 100"
        assert response.json()["detail"][0]["field"] == "limit"
