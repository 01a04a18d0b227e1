"""The public JSON of a lot's traceability (GET /api/v1/food/trace/{token}): the newest
published version, no login; a malformed token is a 400, a forged one, an unknown lot and an
unpublished lot answer the same 404."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.food.services import (
    trace_media_add,
    trace_origin_assign,
    trace_publish,
    trace_record_add,
)
from freshloop.food.trace_tokens import lot_token
from tests.food.trace_helpers import OPERATOR, make_lot, make_origin, panorama, yesterday

pytestmark = pytest.mark.django_db
URL = "/api/v1/food/trace/"


def published_lot():  # type: ignore[no-untyped-def]
    lot = make_lot()
    trace_origin_assign(batch=lot, origin=make_origin(), actor=OPERATOR)
    trace_record_add(
        batch=lot,
        kind="inspection",
        occurred_on=yesterday(),
        title="蛋白质含量",
        inspector="质检员 王芳",
        result="3.3 g/100mL",
        actor=OPERATOR,
    )
    trace_media_add(batch=lot, kind="panorama", file=panorama(), caption="牧场全景", actor=OPERATOR)
    trace_publish(batch=lot, actor=OPERATOR, note="首发")
    return lot


class TestTraceApi:
    def test_a_scanned_lot_answers_what_the_page_shows(self) -> None:
        # given a published lot with a pasture, an inspection and a panorama
        lot = published_lot()
        # when an app asks with the token on the pack, without logging in
        answer = Client().get(URL + lot_token(lot.pk))
        # then it gets the lot, its origin, the record, the panorama and the version history
        assert answer.status_code == 200, answer.content
        assert answer["Cache-Control"] == "public, max-age=60"
        body = answer.json()
        assert (body["product"], body["batch_no"], body["version"]) == (
            "牧场鲜牛奶",
            lot.batch_no,
            1,
        )
        assert body["origin"]["name"] == "呼伦贝尔一号牧场"
        assert [r["title"] for r in body["records"]] == ["蛋白质含量"]
        assert body["panoramas"][0]["caption"] == "牧场全景"
        assert body["panoramas"][0]["url"]
        assert "file" not in body["panoramas"][0]  # storage names stay inside
        assert [v["note"] for v in body["history"]] == ["首发"]
        assert body["cold_chain"]["steps"][0]["title"] == "生产"

    def test_malformed_is_400_and_forged_unknown_or_unpublished_are_the_same_404(self) -> None:
        lot = published_lot()
        draft = make_lot(name="酸奶")
        token = lot_token(lot.pk)
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        malformed = Client().get(URL + "not-a-token")
        assert (malformed.status_code, malformed.json()["code"]) == (400, "trace_token_malformed")
        answers = [Client().get(URL + t) for t in (forged, lot_token(999_999), lot_token(draft.pk))]
        assert {(a.status_code, a.json()["code"], a.json()["message"]) for a in answers} == {
            (404, "trace_not_found", "溯源码无效或该批次暂无溯源信息")
        }
