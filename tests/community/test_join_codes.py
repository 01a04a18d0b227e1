"""群活码: the public page leads to the first group that is not full, counts scans."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.community.errors import CommunityInvalid, GroupNotFound
from freshloop.community.models import JoinCode, JoinCodeGroup
from freshloop.community.services import (
    JoinCodeGroupSpec,
    join_code_create,
    join_code_current,
    join_code_group_append,
    join_code_scan,
)
from freshloop.core.audit import Actor
from tests.community.helpers import join, make_group

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")


def spec(chat_id: str, threshold: int = 200) -> JoinCodeGroupSpec:
    return JoinCodeGroupSpec(
        chat_id=chat_id, qr_content=f"https://work.weixin.qq.com/gm/{chat_id}", threshold=threshold
    )


def two_group_code(threshold: int = 2) -> JoinCode:
    make_group("wr_a", customers=1)
    make_group("wr_b", customers=0, first=50)
    return join_code_create(
        name="周末福利群", groups=[spec("wr_a", threshold), spec("wr_b", threshold)], actor=OPERATOR
    )


class TestJoinCodeScan:
    def test_the_next_group_is_used_once_the_first_is_full(self) -> None:
        code = two_group_code(threshold=2)
        _, entry = join_code_scan(code=code.code)
        assert entry is not None
        assert entry.group.chat_id == "wr_a"

        join("wr_a", 2)  # the first group reaches its threshold of 2 customers

        _, entry = join_code_scan(code=code.code)
        assert entry is not None
        assert entry.group.chat_id == "wr_b"
        code.refresh_from_db()
        assert code.scans == 2
        assert list(
            JoinCodeGroup.objects.filter(join_code=code)
            .order_by("position")
            .values_list("scans", flat=True)
        ) == [1, 1]

    def test_all_full_shows_no_group_until_one_is_appended(self) -> None:
        code = two_group_code(threshold=1)
        join("wr_b", 60)
        assert join_code_current(join_code=code) is None

        make_group("wr_c")
        join_code_group_append(join_code=code, group=spec("wr_c", 100))

        current = join_code_current(join_code=code)
        assert current is not None
        assert current.group.chat_id == "wr_c"

    def test_the_public_page_shows_the_current_groups_qr(self) -> None:
        code = two_group_code(threshold=2)
        response = Client().get(f"/community/join/{code.code}")
        assert response.status_code == 200
        assert "加入「群 wr_a」" in response.content.decode()
        assert 'data-testid="join-page-qr"' in response.content.decode()
        assert Client().get("/community/join/nosuchcode").status_code == 404


class TestJoinCodeCreate:
    @pytest.mark.parametrize("threshold", [0, 201])
    def test_a_threshold_outside_1_to_200_is_refused(self, threshold: int) -> None:
        make_group("wr_a")
        with pytest.raises(CommunityInvalid) as refused:
            join_code_create(name="活码", groups=[spec("wr_a", threshold)], actor=OPERATOR)
        assert refused.value.detail[0]["field"] == "groups.0.threshold"
        assert not JoinCode.objects.exists()

    def test_an_unknown_group_is_refused(self) -> None:
        with pytest.raises(GroupNotFound):
            join_code_create(name="活码", groups=[spec("wr_nope")], actor=OPERATOR)

    def test_the_same_group_cannot_be_appended_twice(self) -> None:
        code = two_group_code()
        with pytest.raises(CommunityInvalid):
            join_code_group_append(join_code=code, group=spec("wr_a"))
