"""The segment builder's API: who may call it, every endpoint end to end, bad input as a typed
4xx (never a 500), and a schema-driven fuzz run with a logged-in marketer's session."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.models import Segment, SegmentMember
from freshloop.datahub.segments.grammar import MAX_CONDITIONS, segment_validate
from freshloop.datahub.segments.selectors import (
    CSV_HEADER,
    builder_schema,
    segment_evaluate,
    segment_member_ids,
)
from freshloop.datahub.segments.services import segment_materialise, segment_save
from freshloop.datahub.tags.services import manual_tag_add
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.promotions.models import Coupon, CouponSource
from tests.factories import make_person, make_staff_user
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 6, 30, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
OPERATOR = Actor(type="user", id="7", label="市场部小林")
BASE = "/api/v1/segments"
VIP_ONLY = {"op": "and", "rules": [{"kind": "manual_tag", "operator": "has", "value": "VIP"}]}


@pytest.fixture(autouse=True)
def _frozen_now(store: EventStore) -> Iterator[None]:
    """Every test gets its own empty event store and a fixed clock."""
    with clock.frozen(NOW):
        yield


def marketer_client(username: str = "marketer") -> Client:
    client = Client()
    client.force_login(make_staff_user(username, Role.MARKETER))
    return client


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data=data, content_type="application/json")


def vip(*people: Person) -> None:
    for person in people:
        manual_tag_add(person=person, tag="VIP", actor=OPERATOR)


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The one error shape, with a Chinese message."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "detail"}
    assert body["code"] == code
    assert any("\u4e00" <= char <= "\u9fff" for char in body["message"])
    return body  # type: ignore[no-any-return]


def saved_segment(name: str = "VIP", definition: dict[str, Any] = VIP_ONLY) -> Segment:
    return segment_save(name=name, definition=definition, actor=OPERATOR)


# Every operation, with a body that would be acceptable.
def operations(segment_id: int) -> list[tuple[str, str, Any]]:
    item = f"{BASE}/{segment_id}"
    body = {"name": "VIP", "definition": VIP_ONLY}
    return [
        ("get", f"{BASE}/schema", None),
        ("post", f"{BASE}/preview", {"definition": VIP_ONLY}),
        ("get", BASE, None),
        ("post", BASE, body),
        ("get", item, None),
        ("put", item, body),
        ("delete", item, None),
        ("post", f"{item}/materialise", None),
        ("get", f"{item}/export.csv", None),
        ("post", f"{item}/issue-coupon", {"template_id": 1}),
    ]


class TestWhoMayCall:
    def test_anonymous_callers_get_401_on_every_operation(self) -> None:
        segment = saved_segment()

        for method, url, body in operations(segment.pk):
            error(send(Client(), method, url, body), 401, "not_authenticated")
        assert Segment.objects.get().name == "VIP"

    @pytest.mark.parametrize("role", [Role.CUSTOMER_SERVICE, Role.LIVE_HOST, Role.SUPPLY_CHAIN])
    def test_operators_without_an_analyst_role_get_403(self, role: Role) -> None:
        segment = saved_segment()
        client = Client()
        client.force_login(make_staff_user("someone", role))

        for method, url, body in operations(segment.pk):
            body_out = error(send(client, method, url, body), 403, "permission_denied")
            assert body_out["detail"] == {"required_roles": ["marketer"]}
        assert Segment.objects.count() == 1

    def test_a_staff_user_without_any_role_gets_403(self) -> None:
        client = Client()
        client.force_login(make_staff_user("nobody"))

        error(client.get(f"{BASE}/schema"), 403, "permission_denied")

    def test_a_consumer_token_is_not_an_operator(self) -> None:
        token, _ = consumer_token_issue(person=make_person(), method="test")
        consumer = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

        error(consumer.get(BASE), 401, "not_authenticated")
        error(
            send(consumer, "post", f"{BASE}/preview", {"definition": VIP_ONLY}),
            401,
            "not_authenticated",
        )

    def test_admins_may_call(self) -> None:
        superuser = Client()
        superuser.force_login(make_staff_user("boss", superuser=True))
        admin = Client()
        admin.force_login(make_staff_user("admin", Role.ADMIN))

        assert superuser.get(BASE).status_code == 200
        assert admin.get(f"{BASE}/schema").status_code == 200

    def test_writes_need_the_csrf_token(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_staff_user("marketer", Role.MARKETER))

        refused = send(client, "post", BASE, {"name": "VIP", "definition": VIP_ONLY})

        error(refused, 403, "permission_denied")
        assert not Segment.objects.exists()
        # reads need none
        assert client.get(BASE).status_code == 200

    def test_writes_with_the_csrf_token_pass(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_staff_user("marketer", Role.MARKETER))
        client.get(BASE)  # any page sets the token in a real console; here we set it
        from django.middleware.csrf import _get_new_csrf_string

        token = _get_new_csrf_string()
        client.cookies["csrftoken"] = token

        response = client.post(
            BASE,
            data=json.dumps({"name": "VIP", "definition": VIP_ONLY}),
            content_type="application/json",
            HTTP_X_CSRFTOKEN=token,
        )

        assert response.status_code == 201


class TestSchema:
    def test_serves_the_menus_the_builder_page_is_drawn_with(self) -> None:
        manual_tag_add(person=make_person(), tag="VIP", actor=OPERATOR)

        response = marketer_client().get(f"{BASE}/schema")

        assert response.status_code == 200
        assert response.json() == json.loads(json.dumps(builder_schema()))
        assert "VIP" in response.json()["manual_tags"]

    def test_every_offer_is_a_rule_the_server_accepts(self) -> None:
        """The menus come from the validator's whitelists: a rule built from any of them
        validates (a menu offering what the server refuses would be a dead end)."""
        body = marketer_client().get(f"{BASE}/schema").json()

        rules: list[dict[str, Any]] = []
        for field in body["tag_fields"]:
            for operator in field["operators"]:
                if field["type"] == "list":
                    value: Any = "水果"
                elif operator in {"in", "not_in"}:
                    value = [1] if field["type"] == "integer" else ["x"]
                else:
                    value = {"string": "x", "integer": 1, "number": 0.5}[field["type"]]
                rules.append(
                    {"kind": "tag", "field": field["key"], "operator": operator, "value": value}
                )
            for choice in field["values"]:
                value = int(choice["value"]) if field["type"] == "integer" else choice["value"]
                operator = "contains" if field["type"] == "list" else "eq"
                rules.append(
                    {"kind": "tag", "field": field["key"], "operator": operator, "value": value}
                )
        for named in body["events"]:
            for measure in body["measures"]:
                for operator in body["event_operators"]:
                    rules.append(
                        {
                            "kind": "event",
                            "name": named["name"],
                            "measure": measure,
                            "operator": operator,
                            "value": 1,
                        }
                    )
        for channel in body["channels"]:
            rules.append(
                {
                    "kind": "event",
                    "name": "live_join",
                    "operator": "gte",
                    "value": 1,
                    "channel": channel["value"],
                }
            )
        for trait in body["trait_fields"]:
            for operator in body["trait_operators"]:
                value = {"exists": True, "in": ["x"], "gte": 1, "lte": 1}.get(operator, "x")
                rules.append(
                    {"kind": "trait", "field": trait["key"], "operator": operator, "value": value}
                )
        for operator in body["manual_tag_operators"]:
            rules.append({"kind": "manual_tag", "operator": operator, "value": "VIP"})
        assert set(body["kinds"]) == {"tag", "manual_tag", "trait", "event", "region"}
        assert body["limits"]["max_conditions"] == MAX_CONDITIONS

        for rule in rules:
            segment_validate({"op": "and", "rules": [rule]})
        offered = {op for f in body["tag_fields"] for op in f["operators"]}
        assert set(body["operator_labels"]) >= offered | set(body["trait_operators"])


class TestPreview:
    def test_counts_what_the_rules_select_without_saving(self) -> None:
        alice, bob, _carol = make_person(), make_person(), make_person()
        vip(alice, bob)

        response = send(marketer_client(), "post", f"{BASE}/preview", {"definition": VIP_ONLY})

        assert response.status_code == 200
        assert response.json() == {"count": 2}
        assert response.json()["count"] == len(segment_evaluate(definition=VIP_ONLY))
        assert not Segment.objects.exists()

    def test_a_bad_rule_is_422_with_its_path(self) -> None:
        definition = {
            "op": "and",
            "rules": [
                VIP_ONLY["rules"][0],
                {
                    "op": "or",
                    "rules": [
                        {"kind": "tag", "field": "lifecycle", "operator": "gte", "value": "x"}
                    ],
                },
            ],
        }

        response = send(marketer_client(), "post", f"{BASE}/preview", {"definition": definition})

        body = error(response, 422, "segment_invalid")
        assert body["detail"]["path"] == "$.rules[1].rules[0]"
        assert body["detail"]["problem"] == "unknown_operator"
        assert body["message"].startswith("第 2 条 › 第 1 条：")

    @pytest.mark.parametrize("definition", [None, [], "and", 7, {"kind": "tag"}, True])
    def test_a_definition_that_is_not_a_group_is_422_at_the_root(self, definition: Any) -> None:
        response = send(marketer_client(), "post", f"{BASE}/preview", {"definition": definition})

        body = error(response, 422, "segment_invalid")
        assert body["detail"] == {"path": "$", "problem": "not_group"}

    @pytest.mark.parametrize(
        ("raw", "status", "code"),
        [
            ("{not json", 400, "malformed_request"),
            ("[" * 100_000, 400, "malformed_request"),
            ('{"definition": ' + "[" * 500 + "]" * 500 + "}", 422, "segment_invalid"),
            ("[1, 2]", 422, "validation_error"),
            ("{}", 422, "validation_error"),
            (json.dumps({"definition": VIP_ONLY, "limit": 1}), 422, "validation_error"),
            ('{"definition": {"op": "and", "rules": [NaN]}}', 422, "segment_invalid"),
        ],
    )
    def test_malformed_bodies_are_4xx(self, raw: str, status: int, code: str) -> None:
        response = marketer_client().post(
            f"{BASE}/preview", data=raw, content_type="application/json"
        )

        error(response, status, code)

    def test_too_many_conditions_is_422(self) -> None:
        rule = VIP_ONLY["rules"][0]
        definition = {"op": "or", "rules": [rule] * 10_000}

        body = error(
            send(marketer_client(), "post", f"{BASE}/preview", {"definition": definition}),
            422,
            "segment_invalid",
        )
        assert body["detail"]["problem"] == "too_many_conditions"


class TestCreate:
    def test_saves_materialises_and_answers_201(self) -> None:
        alice, bob = make_person(), make_person()
        vip(alice, bob)

        response = send(
            marketer_client(),
            "post",
            BASE,
            {"name": " 高价值会员 ", "description": "手工标了 VIP 的人", "definition": VIP_ONLY},
        )

        assert response.status_code == 201
        body = response.json()
        segment = Segment.objects.get()
        assert body == {
            "id": segment.pk,
            "name": "高价值会员",
            "description": "手工标了 VIP 的人",
            "definition": VIP_ONLY,
            "member_count": 2,
            "materialised_at": "2025-06-30T04:00:00Z",
            "created_by": "marketer",
            "created_at": "2025-06-30T04:00:00Z",
            "updated_at": "2025-06-30T04:00:00Z",
        }
        assert segment_member_ids(segment=segment) == sorted([alice.pk, bob.pk])
        assert AuditLog.objects.filter(
            action="datahub.segment_create", actor_label="marketer"
        ).exists()

    def test_a_taken_name_is_422_naming_the_field(self) -> None:
        saved_segment(name="VIP")

        body = error(
            send(marketer_client(), "post", BASE, {"name": "VIP", "definition": VIP_ONLY}),
            422,
            "segment_invalid",
        )
        assert body["detail"]["field"] == "name"
        assert Segment.objects.count() == 1

    @pytest.mark.parametrize(
        "payload",
        [
            {"name": "", "definition": VIP_ONLY},
            {"name": "x" * 65, "definition": VIP_ONLY},
            {"name": "VIP\u0000", "definition": VIP_ONLY},
            {"name": "VIP", "description": "d" * 201, "definition": VIP_ONLY},
            {
                "name": "VIP",
                "definition": {
                    "op": "and",
                    "rules": [{"kind": "manual_tag", "operator": "has", "value": "a\u0000"}],
                },
            },
            {"name": "VIP", "definition": {"op": "and", "rules": []}},
        ],
    )
    def test_bad_input_is_422_and_saves_nothing(self, payload: dict[str, Any]) -> None:
        error(send(marketer_client(), "post", BASE, payload), 422, "segment_invalid")

        assert not Segment.objects.exists()
        assert not AuditLog.objects.filter(action__startswith="datahub.segment").exists()

    @pytest.mark.parametrize(
        "payload",
        [
            {"definition": VIP_ONLY},
            {"name": 5, "definition": VIP_ONLY},
            {"name": "VIP"},
            {"name": "VIP", "definition": VIP_ONLY, "member_count": 5},
            {"name": "VIP", "description": None, "definition": VIP_ONLY},
        ],
    )
    def test_wrong_shapes_are_422(self, payload: dict[str, Any]) -> None:
        error(send(marketer_client(), "post", BASE, payload), 422, "validation_error")
        assert not Segment.objects.exists()


class TestList:
    def test_lists_the_most_recently_changed_first(self) -> None:
        older = saved_segment(name="一")
        with clock.frozen(NOW + dt.timedelta(minutes=5)):
            newer = saved_segment(name="二")

        body = marketer_client().get(BASE).json()

        assert [item["id"] for item in body["items"]] == [newer.pk, older.pk]
        assert body["items"][1]["materialised_at"] is None

    def test_an_empty_list(self) -> None:
        assert marketer_client().get(BASE).json() == {"items": []}


class TestDetail:
    def test_shows_one_segment(self) -> None:
        segment = saved_segment()

        body = marketer_client().get(f"{BASE}/{segment.pk}").json()

        assert (body["id"], body["name"], body["definition"]) == (segment.pk, "VIP", VIP_ONLY)

    def test_unknown_ids_are_404(self) -> None:
        body = error(marketer_client().get(f"{BASE}/999"), 404, "segment_not_found")
        assert body["detail"] == {"segment_id": 999}

    @pytest.mark.parametrize("segment_id", ["0", "-1", "abc", "1.5", str(2**64)])
    def test_impossible_ids_are_4xx(self, segment_id: str) -> None:
        response = marketer_client().get(f"{BASE}/{segment_id}")

        assert 400 <= response.status_code < 500
        assert set(response.json()) == {"code", "message", "detail"}


class TestUpdate:
    def test_changes_and_recomputes(self) -> None:
        alice, bob = make_person(), make_person()
        vip(alice)
        manual_tag_add(person=bob, tag="团长候选", actor=OPERATOR)
        segment = segment_materialise(segment=saved_segment())
        leaders = {
            "op": "or",
            "rules": [{"kind": "manual_tag", "operator": "has", "value": "团长候选"}],
        }

        response = send(
            marketer_client(),
            "put",
            f"{BASE}/{segment.pk}",
            {"name": "团长候选", "description": "", "definition": leaders},
        )

        assert response.status_code == 200
        assert response.json()["name"] == "团长候选"
        assert response.json()["member_count"] == 1
        assert segment_member_ids(segment=segment) == [bob.pk]
        assert AuditLog.objects.filter(action="datahub.segment_update").count() == 1

    def test_unknown_ids_are_404(self) -> None:
        response = send(
            marketer_client(), "put", f"{BASE}/42", {"name": "x", "definition": VIP_ONLY}
        )

        error(response, 404, "segment_not_found")
        assert not Segment.objects.exists()

    def test_renaming_onto_another_segment_is_422_and_changes_nothing(self) -> None:
        saved_segment(name="一")
        second = saved_segment(name="二")

        response = send(
            marketer_client(), "put", f"{BASE}/{second.pk}", {"name": "一", "definition": VIP_ONLY}
        )

        error(response, 422, "segment_invalid")
        second.refresh_from_db()
        assert second.name == "二"


class TestDelete:
    def test_deletes_with_its_members(self) -> None:
        vip(make_person())
        segment = segment_materialise(segment=saved_segment())
        client = marketer_client()

        response = client.delete(f"{BASE}/{segment.pk}")

        assert response.status_code == 204
        assert response.content == b""
        assert not Segment.objects.exists()
        assert not SegmentMember.objects.exists()
        assert AuditLog.objects.filter(action="datahub.segment_delete").count() == 1
        error(client.get(f"{BASE}/{segment.pk}"), 404, "segment_not_found")
        error(client.delete(f"{BASE}/{segment.pk}"), 404, "segment_not_found")


class TestMaterialise:
    def test_recomputes_the_members_now(self) -> None:
        segment = segment_materialise(segment=saved_segment())
        vip(make_person(), make_person())

        response = send(marketer_client(), "post", f"{BASE}/{segment.pk}/materialise")

        assert response.status_code == 200
        assert response.json()["member_count"] == 2
        assert SegmentMember.objects.filter(segment=segment).count() == 2

    def test_unknown_ids_are_404(self) -> None:
        error(send(marketer_client(), "post", f"{BASE}/7/materialise"), 404, "segment_not_found")


class TestExport:
    def test_downloads_the_members_as_csv_with_masked_phones(self) -> None:
        alice = make_person(phone="13812345678")
        Person.objects.filter(pk=alice.pk).update(display_name="=cmd|' /C calc'!A0")
        vip(alice)
        segment = segment_materialise(segment=saved_segment())

        response = marketer_client().get(f"{BASE}/{segment.pk}/export.csv")

        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == (
            f'attachment; filename="freshloop-segment-{segment.pk}.csv"'
        )
        text = response.content.decode("utf-8")
        assert text.startswith("\ufeff")
        rows = list(csv.reader(io.StringIO(text[1:])))
        assert rows[0] == CSV_HEADER
        assert rows[1][:3] == [alice.one_id, "'=cmd|' /C calc'!A0", "138****5678"]
        assert "13812345678" not in text

    def test_unknown_ids_are_404(self) -> None:
        error(marketer_client().get(f"{BASE}/5/export.csv"), 404, "segment_not_found")


class TestIssueCoupon:
    def test_issues_one_coupon_per_member_through_promotions(self) -> None:
        alice, bob, _carol = make_person(), make_person(), make_person()
        vip(alice, bob)
        segment = segment_materialise(segment=saved_segment())
        template = coupon_template("seg10", per_user_limit=1)
        client = marketer_client()

        first = send(
            client, "post", f"{BASE}/{segment.pk}/issue-coupon", {"template_id": template.pk}
        )
        again = send(
            client, "post", f"{BASE}/{segment.pk}/issue-coupon", {"template_id": template.pk}
        )

        assert first.status_code == 200
        assert first.json() == {
            "segment_id": segment.pk,
            "template_id": template.pk,
            "issued": 2,
            "skipped": 0,
            "skipped_reasons": [],
            "replayed": False,
        }
        assert again.json()["issued"] == 0
        assert again.json()["skipped_reasons"] == [
            {"reason": "per_user_limit", "label": "已达到每人领取上限", "count": 2}
        ]
        coupons = Coupon.objects.filter(template=template, source=CouponSource.SEGMENT)
        assert sorted(c.person_id for c in coupons) == sorted([alice.pk, bob.pk])

    def test_a_retried_request_with_its_key_answers_the_first_result(self) -> None:
        # given a computed segment of two VIPs and a template allowing several per person
        alice, bob = make_person(), make_person()
        vip(alice, bob)
        segment = segment_materialise(segment=saved_segment())
        template = coupon_template("seg10", per_user_limit=5)
        other = coupon_template("seg20", per_user_limit=5)
        client = marketer_client()
        url = f"{BASE}/{segment.pk}/issue-coupon"

        def issue(template_id: int, key: str) -> Any:
            return client.post(
                url,
                data=json.dumps({"template_id": template_id}),
                content_type="application/json",
                headers={"Idempotency-Key": key},
            )

        # when the same click's request arrives twice
        first = issue(template.pk, "click-1")
        again = issue(template.pk, "click-1")

        # then everyone got one coupon, and the retry answered the first result
        assert first.status_code == again.status_code == 200
        assert first.json()["issued"] == 2
        assert {**again.json(), "replayed": False} == first.json()
        assert again.json()["replayed"] is True
        assert Coupon.objects.filter(template=template).count() == 2
        # and a new click (a new key) issues again, as the template allows
        assert issue(template.pk, "click-2").json()["issued"] == 2
        assert Coupon.objects.filter(template=template).count() == 4
        # and a key used for another template is refused, issuing nothing
        error(issue(other.pk, "click-1"), 409, "idempotency_key_reused")
        error(issue(other.pk, "k" * 65), 422, "segment_invalid")
        assert not Coupon.objects.filter(template=other).exists()

    def test_refused_before_the_segment_was_computed(self) -> None:
        vip(make_person())
        segment = saved_segment()
        template = coupon_template("seg10")

        response = send(
            marketer_client(),
            "post",
            f"{BASE}/{segment.pk}/issue-coupon",
            {"template_id": template.pk},
        )

        error(response, 409, "segment_not_materialised")
        assert not Coupon.objects.exists()

    def test_an_inactive_template_is_refused(self) -> None:
        vip(make_person())
        segment = segment_materialise(segment=saved_segment())
        template = coupon_template(
            "seg10", valid_until=NOW - dt.timedelta(days=1), valid_from=NOW - dt.timedelta(days=10)
        )

        response = send(
            marketer_client(),
            "post",
            f"{BASE}/{segment.pk}/issue-coupon",
            {"template_id": template.pk},
        )

        assert 400 <= response.status_code < 500
        assert set(response.json()) == {"code", "message", "detail"}
        assert not Coupon.objects.exists()

    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            ({"template_id": 999}, 404, "not_found"),
            ({"template_id": 0}, 422, "validation_error"),
            ({"template_id": "seg10"}, 422, "validation_error"),
            ({"template_id": 2**64}, 422, "validation_error"),
            ({}, 422, "validation_error"),
        ],
    )
    def test_bad_templates_are_4xx(self, body: dict[str, Any], status: int, code: str) -> None:
        segment = segment_materialise(segment=saved_segment())

        error(
            send(marketer_client(), "post", f"{BASE}/{segment.pk}/issue-coupon", body), status, code
        )

    def test_an_unknown_segment_is_404(self) -> None:
        template = coupon_template("seg10")

        response = send(
            marketer_client(), "post", f"{BASE}/8/issue-coupon", {"template_id": template.pk}
        )

        error(response, 404, "segment_not_found")


# --- fuzzing with an operator's session ---------------------------------------------------------

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application()).include(
    path_regex=r"^/api/v1/segments"
)
CSRF_TOKEN = "f" * 32


@pytest.fixture
def _keep_the_test_connection_open() -> Iterator[None]:
    """The WSGI handler closes the database connection after each request, which would end
    the test's transaction; Django's own test client unhooks the same signals."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def marketer_session(_keep_the_test_connection_open: None) -> dict[str, str]:
    """The cookies of a logged-in marketer, with a CSRF token the requests also send."""
    client = Client()
    user: User = make_staff_user("fuzz-marketer", Role.MARKETER)
    client.force_login(user)
    vip(make_person())
    segment_materialise(segment=saved_segment())
    return {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF_TOKEN}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_an_operator_never_gets_a_server_error(case: Any, marketer_session: dict[str, str]) -> None:
    response = case.call(cookies=marketer_session, headers={"X-CSRFToken": CSRF_TOKEN})

    assert response.status_code < 500, response.text[:500]
    assert response.status_code not in {401, 403}, response.text[:300]  # the session works
    if response.status_code >= 400:
        assert set(response.json()) == {"code", "message", "detail"}


class TestFormBodies:
    """Found by the fuzz run: the CSRF check parses form bodies and used to crash on bad ones."""

    @pytest.mark.parametrize(
        ("content_type", "raw"),
        [
            ("multipart/form-data", b"--x\r\n"),
            ("multipart/form-data; boundary=", b"--\r\n"),
            ("application/x-www-form-urlencoded", "&".join(f"a{i}=1" for i in range(1200))),
        ],
    )
    def test_a_broken_form_body_is_400_not_500(self, content_type: str, raw: Any) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_staff_user("marketer", Role.MARKETER))
        client.cookies["csrftoken"] = CSRF_TOKEN

        response = client.post(
            f"{BASE}/preview", data=raw, content_type=content_type, HTTP_X_CSRFTOKEN=CSRF_TOKEN
        )

        error(response, 400, "malformed_request")
