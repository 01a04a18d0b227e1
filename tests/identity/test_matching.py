from __future__ import annotations

import json

import pytest

from freshloop.core.audit import Actor
from freshloop.core.errors import Conflict
from freshloop.identity.matching import (
    _records,
    match_candidate_accept,
    match_candidate_reject,
    match_candidates_generate,
    score_pairs,
)
from freshloop.identity.models import (
    Identifier,
    MatchCandidate,
    MatchStatus,
    MergeRecord,
    Person,
    PersonStatus,
)
from freshloop.identity.resolver import IdentifierInput, identify

REVIEWER = Actor(type="user", id="3", label="运营小周")


def _person(identifier: IdentifierInput, name: str, address: str, city: str) -> Person:
    return identify(
        identifiers=[identifier],
        traits={"name": name, "address": address, "city": city},
        source="shop",
    ).person


def _crowd() -> None:
    """Background people so the model's u probabilities come from a realistic spread."""
    cities = ["杭州", "上海", "北京", "广州", "成都"]
    surnames = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许"
    for index in range(60):
        _person(
            IdentifierInput(type="member_no", value=f"M{index:05d}"),
            f"{surnames[index % 20]}{'一二三四五六七八九十'[index % 10]}{index}",
            f"{cities[index % 5]}市第{index}街{index * 7}号",
            cities[index % 5],
        )


@pytest.mark.django_db
class TestMatchCandidatesGenerate:
    def test_same_name_address_and_masked_phone_is_queued(self) -> None:
        # given one customer known twice: by a phone and by a member card, same name and address
        _crowd()
        by_phone = _person(
            IdentifierInput(type="phone", value="13812345678"),
            "王小明",
            "杭州市西湖区文三路1号",
            "杭州",
        )
        by_card = _person(
            IdentifierInput(type="member_no", value="VIP-9"),
            "王小明",
            "杭州西湖区文三路1号",
            "杭州",
        )
        # and a namesake elsewhere
        _person(
            IdentifierInput(type="member_no", value="VIP-10"),
            "王小明",
            "广州市天河区体育西路",
            "广州",
        )
        # when matching runs
        report = match_candidates_generate(actor=REVIEWER, threshold=0.9)
        # then exactly the true pair waits for review
        pairs = {(c.person_a_id, c.person_b_id) for c in MatchCandidate.objects.all()}
        assert pairs == {tuple(sorted((by_phone.pk, by_card.pk)))}
        assert report.candidates_created == 1
        assert MatchCandidate.objects.get().score >= 0.9

    def test_the_same_people_score_the_same_whatever_their_ids(self) -> None:
        # given a crowd with a namesake pair
        _crowd()
        _person(IdentifierInput(type="phone", value="13812345678"), "王小明", "文三路1号", "杭州")
        _person(IdentifierInput(type="member_no", value="VIP-9"), "王小明", "文三路1号", "杭州")
        records = _records()

        # when the same records are scored under other ids (the database's ids have gaps)
        renumbered = [{**r, "unique_id": 10_000 + 37 * r["unique_id"]} for r in records]
        first = score_pairs(records, threshold=0.0)
        second = score_pairs(renumbered, threshold=0.0)

        # then every pair gets the same probability
        def scores(
            pairs: list[dict[str, object]], to_index: dict[object, int]
        ) -> list[tuple[int, int, float]]:
            return sorted(
                (
                    to_index[p["unique_id_l"]],
                    to_index[p["unique_id_r"]],
                    round(float(p["match_probability"]), 9),
                )  # type: ignore[arg-type]
                for p in pairs
            )

        assert scores(first, {r["unique_id"]: i for i, r in enumerate(records)}) == scores(
            second, {r["unique_id"]: i for i, r in enumerate(renumbered)}
        )

    def test_rejected_pairs_are_not_proposed_again(self) -> None:
        _crowd()
        _person(
            IdentifierInput(type="member_no", value="A"), "李娜", "北京市朝阳区建国路8号", "北京"
        )
        _person(
            IdentifierInput(type="member_no", value="B"), "李娜", "北京市朝阳区建国路8号", "北京"
        )
        match_candidates_generate(actor=REVIEWER)
        candidate = MatchCandidate.objects.get()
        match_candidate_reject(actor=REVIEWER, candidate_id=candidate.pk)
        assert match_candidates_generate(actor=REVIEWER).candidates_created == 0
        assert MatchCandidate.objects.get().status == MatchStatus.REJECTED


@pytest.mark.django_db
class TestMatchCandidateAccept:
    def test_accept_merges_and_survives_a_rebuild(self) -> None:
        from freshloop.identity.rebuild import identity_rebuild

        a = _person(
            IdentifierInput(type="member_no", value="A"),
            "张伟",
            "上海市浦东新区世纪大道100号",
            "上海",
        )
        b = _person(
            IdentifierInput(type="device_id", value="dev-b"),
            "张伟",
            "上海市浦东新区世纪大道100号",
            "上海",
        )
        candidate = MatchCandidate.objects.create(
            person_a=a,
            person_b=b,
            score=0.97,
            match_weight=9.5,
            evidence={"name": 3, "address": 3, "masked_phone": -1, "city": 1},
            created_at=a.created_at,
        )
        survivor = match_candidate_accept(actor=REVIEWER, candidate_id=candidate.pk)
        assert survivor.pk == a.pk
        b.refresh_from_db()
        assert b.status == PersonStatus.MERGED
        # the merge names the operator's decision, the candidate, and the link it became
        record = MergeRecord.objects.get()
        member_no = Identifier.objects.get(type="member_no")
        device = Identifier.objects.get(type="device_id")
        assert (record.from_person_id, record.into_person_id) == (b.pk, a.pk)
        assert (record.reason, record.actor_label) == ("review", REVIEWER.label)
        assert record.match_candidate_id == candidate.pk
        assert record.evidence_id == member_no.pk
        detail = record.evidence_detail
        assert detail["kind"] == "review"
        assert detail["decision"]["action"] == "accept"
        assert detail["decision"]["by"] == REVIEWER.label
        assert detail["candidate"] == {
            "id": candidate.pk,
            "score": 0.97,
            "match_weight": 9.5,
            "fields": {"name": 3, "address": 3, "masked_phone": -1, "city": 1},
        }
        assert detail["identifier"] == {"id": member_no.pk, "type": "member_no"}
        assert detail["linked_with"] == {"id": device.pk, "type": "device_id"}
        assert detail["link_source"] == "operator"
        assert "张伟" not in json.dumps(detail, ensure_ascii=False)
        identity_rebuild(actor=Actor.system("test"))
        b.refresh_from_db()
        assert b.merged_into_id == a.pk
        assert MergeRecord.objects.count() == 1  # the rebuild agrees: nothing to merge again
        with pytest.raises(Conflict):
            match_candidate_accept(actor=REVIEWER, candidate_id=candidate.pk)

    def test_accept_that_breaks_the_rules_is_refused_and_changes_nothing(self) -> None:
        a = _person(IdentifierInput(type="phone", value="13800138000"), "张伟", "上海", "上海")
        b = _person(IdentifierInput(type="phone", value="13900139000"), "张伟", "上海", "上海")
        candidate = MatchCandidate.objects.create(
            person_a=a, person_b=b, score=0.95, created_at=a.created_at
        )
        with pytest.raises(Conflict, match="不能合并"):
            match_candidate_accept(actor=REVIEWER, candidate_id=candidate.pk)
        assert Person.objects.filter(status=PersonStatus.ACTIVE).count() == 2
        assert MatchCandidate.objects.get().status == MatchStatus.PENDING
