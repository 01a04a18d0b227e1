"""Traceability writes (food/trace.py): origins, records and media of a lot's draft, and
publication into numbered versions with their 修改记录. Data through the services only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.storage import default_storage

from freshloop.core import clock
from freshloop.core.errors import InvalidInput
from freshloop.core.images import ImageRejected
from freshloop.food.models import TraceMedia, TraceProfile, TraceRecord, TraceVersion
from freshloop.food.selectors import trace_public_page
from freshloop.food.services import (
    TraceNothingToPublish,
    trace_media_add,
    trace_media_delete,
    trace_origin_assign,
    trace_origin_create,
    trace_origin_update,
    trace_publish,
    trace_record_add,
    trace_record_delete,
    trace_record_update,
)
from freshloop.food.trace_files import TraceFileRejected
from tests.food.trace_helpers import (
    MP4,
    OPERATOR,
    PDF,
    make_lot,
    make_origin,
    panorama,
    picture,
    stored_files,
    yesterday,
)

pytestmark = pytest.mark.django_db


def _fields(error: InvalidInput) -> set[str]:
    return {item["field"] for item in error.detail}


class TestTraceOriginCreate:
    def test_stores_location_rounded_to_six_places(self) -> None:
        # when an operator registers a pasture
        origin = make_origin()
        # then its position is kept as decimal degrees
        assert str(origin.latitude) == "49.328412"
        assert str(origin.longitude) == "119.424561"

    @pytest.mark.parametrize(
        ("latitude", "longitude", "field"),
        [("91", "119", "latitude"), ("abc", "119", "latitude"), ("40", "-181", "longitude")],
    )
    def test_refuses_impossible_positions(self, latitude: str, longitude: str, field: str) -> None:
        with pytest.raises(InvalidInput) as refused:
            trace_origin_create(
                name="牧场", address="某地", latitude=latitude, longitude=longitude, actor=OPERATOR
            )
        assert _fields(refused.value) == {field}

    def test_refuses_a_second_origin_of_the_same_name(self) -> None:
        make_origin("一号牧场")
        with pytest.raises(InvalidInput) as refused:
            trace_origin_create(
                name="一号牧场", address="别处", latitude=1, longitude=2, actor=OPERATOR
            )
        assert refused.value.text == "已有同名产地"


class TestTraceRecordAdd:
    def test_keeps_photo_and_pdf(self) -> None:
        lot = make_lot()
        # when an inspection report with its photo and PDF is added
        record = trace_record_add(
            batch=lot,
            kind="inspection",
            occurred_on=yesterday(),
            title="菌落总数",
            inspector="质检员 张敏",
            result="合格（≤ 10⁵ CFU/mL）",
            photo=picture(),
            document=PDF,
            actor=OPERATOR,
        )
        # then the files are in storage and the draft has an unpublished change
        assert default_storage.exists(record.photo_jpeg_1080.name)
        assert default_storage.exists(record.document.name)
        assert TraceProfile.objects.get(batch=lot).has_unpublished_changes

    def test_a_fake_pdf_writes_nothing(self) -> None:
        lot = make_lot()
        before = stored_files()
        # when the "PDF" is really something else
        with pytest.raises(TraceFileRejected):
            trace_record_add(
                batch=lot,
                kind="inspection",
                occurred_on=yesterday(),
                title="菌落总数",
                inspector="张敏",
                photo=picture(),
                document=b"<html>not a pdf</html>",
                actor=OPERATOR,
            )
        # then neither a row nor the already-stored photo is left behind
        assert not TraceRecord.objects.exists()
        assert stored_files() == before

    def test_refuses_missing_fields_and_future_dates(self) -> None:
        lot = make_lot()
        with pytest.raises(InvalidInput) as refused:
            trace_record_add(
                batch=lot,
                kind="inspection",
                occurred_on=None,
                title="x",
                inspector="y",
                actor=OPERATOR,
            )
        assert _fields(refused.value) == {"occurred_on"}
        with pytest.raises(InvalidInput) as refused:
            trace_record_add(
                batch=lot,
                kind="inspection",
                occurred_on=clock.to_shanghai(clock.now()).date() + dt.timedelta(days=2),
                title="x",
                inspector="y",
                actor=OPERATOR,
            )
        assert _fields(refused.value) == {"occurred_on"}
        with pytest.raises(InvalidInput) as refused:
            trace_record_add(
                batch=lot,
                kind="magic",
                occurred_on=yesterday(),
                title="x",
                inspector="y",
                actor=OPERATOR,
            )
        assert _fields(refused.value) == {"kind"}
        with pytest.raises(InvalidInput) as refused:
            trace_record_add(
                batch=lot,
                kind="feed",
                occurred_on=yesterday(),
                title=" ",
                inspector="y",
                actor=OPERATOR,
            )
        assert _fields(refused.value) == {"title"}
        assert not TraceRecord.objects.exists()


class TestTraceRecordUpdateAndDelete:
    def test_update_changes_text_and_flags_the_draft(self) -> None:
        lot = make_lot()
        trace_origin_assign(batch=lot, origin=make_origin(), actor=OPERATOR)
        record = trace_record_add(
            batch=lot,
            kind="inspection",
            occurred_on=yesterday(),
            title="抗生素残留",
            inspector="张敏",
            result="未检出",
            actor=OPERATOR,
        )
        trace_publish(batch=lot, actor=OPERATOR)
        # when the result is corrected
        trace_record_update(
            record=record,
            kind="inspection",
            occurred_on=yesterday(),
            title="抗生素残留",
            inspector="张敏",
            result="未检出（复检）",
            actor=OPERATOR,
        )
        # then it is saved, and flagged as not yet published
        record.refresh_from_db()
        assert record.result == "未检出（复检）"
        assert TraceProfile.objects.get(batch=lot).has_unpublished_changes

    def test_delete_keeps_files_a_published_version_shows(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        lot = make_lot()
        trace_origin_assign(batch=lot, origin=make_origin(), actor=OPERATOR)
        published = trace_record_add(
            batch=lot,
            kind="inspection",
            occurred_on=yesterday(),
            title="菌落总数",
            inspector="张敏",
            photo=picture(),
            actor=OPERATOR,
        )
        trace_publish(batch=lot, actor=OPERATOR)
        draft_only = trace_record_add(
            batch=lot,
            kind="feed",
            occurred_on=yesterday(),
            title="饲料",
            inspector="李强",
            photo=picture(),
            actor=OPERATOR,
        )
        kept, gone = published.photo_jpeg_1080.name, draft_only.photo_jpeg_1080.name
        # when both records are deleted
        with django_capture_on_commit_callbacks(execute=True):
            trace_record_delete(record=published, actor=OPERATOR)
            trace_record_delete(record=draft_only, actor=OPERATOR)
        # then the published photo stays (version 1 still shows it), the draft's is removed
        assert default_storage.exists(kept)
        assert not default_storage.exists(gone)
        page = trace_public_page(batch_id=lot.pk)
        assert page is not None
        assert page.records[0]["photo_url"].endswith(kept.split("/")[-1])


class TestTraceMediaAdd:
    def test_panorama_video_and_photo(self) -> None:
        lot = make_lot()
        pano = trace_media_add(
            batch=lot, kind="panorama", file=panorama(), caption="牧场全景", actor=OPERATOR
        )
        video = trace_media_add(batch=lot, kind="video", file=MP4, caption="挤奶", actor=OPERATOR)
        photo = trace_media_add(batch=lot, kind="photo", file=picture(), actor=OPERATOR)
        # the panorama keeps its full width (the viewer needs every pixel), in tour order
        assert (pano.width, pano.height) == (2048, 1024)
        assert video.file.name.endswith(".mp4")
        assert [m.pk for m in TraceMedia.objects.all()] == [pano.pk, video.pk, photo.pk]

    def test_refuses_a_panorama_that_is_not_two_to_one(self) -> None:
        lot = make_lot()
        with pytest.raises(TraceFileRejected) as refused:
            trace_media_add(batch=lot, kind="panorama", file=picture(1600, 1200), actor=OPERATOR)
        assert "2:1" in refused.value.text
        assert not TraceMedia.objects.exists()

    def test_refuses_files_that_are_not_what_they_claim(self) -> None:
        lot = make_lot()
        with pytest.raises(TraceFileRejected):
            trace_media_add(batch=lot, kind="video", file=b"GIF89a....", actor=OPERATOR)
        with pytest.raises(ImageRejected):
            trace_media_add(batch=lot, kind="photo", file=b"not an image", actor=OPERATOR)
        with pytest.raises(InvalidInput):
            trace_media_add(batch=lot, kind="hologram", file=picture(), actor=OPERATOR)
        assert not TraceMedia.objects.exists()

    def test_delete_of_unpublished_media_removes_its_files(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        lot = make_lot()
        media = trace_media_add(batch=lot, kind="photo", file=picture(), actor=OPERATOR)
        name = media.file.name
        with django_capture_on_commit_callbacks(execute=True):
            trace_media_delete(media=media, actor=OPERATOR)
        assert not TraceMedia.objects.exists()
        assert not default_storage.exists(name)


class TestTracePublish:
    def test_needs_an_origin(self) -> None:
        lot = make_lot()
        with pytest.raises(InvalidInput) as refused:
            trace_publish(batch=lot, actor=OPERATOR)
        assert _fields(refused.value) == {"origin"}
        assert not TraceVersion.objects.exists()

    def test_first_version_then_nothing_to_publish(self) -> None:
        lot = make_lot()
        trace_origin_assign(batch=lot, origin=make_origin(), actor=OPERATOR)
        version = trace_publish(batch=lot, actor=OPERATOR, note="上线")
        assert (version.number, version.changes, version.note) == (1, ["首次发布"], "上线")
        assert version.published_by == "供应链小王"
        assert not TraceProfile.objects.get(batch=lot).has_unpublished_changes
        with pytest.raises(TraceNothingToPublish):
            trace_publish(batch=lot, actor=OPERATOR)

    def test_edits_after_publication_become_a_new_version(self) -> None:
        # given a published lot with one inspection record
        lot = make_lot()
        origin = make_origin()
        trace_origin_assign(batch=lot, origin=origin, actor=OPERATOR)
        record = trace_record_add(
            batch=lot,
            kind="inspection",
            occurred_on=yesterday(),
            title="菌落总数",
            inspector="张敏",
            result="合格",
            actor=OPERATOR,
        )
        trace_publish(batch=lot, actor=OPERATOR)
        # when the operator corrects the result, adds a panorama and moves the address
        trace_record_update(
            record=record,
            kind="inspection",
            occurred_on=yesterday(),
            title="菌落总数",
            inspector="张敏",
            result="合格（第三方复检）",
            actor=OPERATOR,
        )
        trace_media_add(
            batch=lot, kind="panorama", file=panorama(), caption="牧场全景", actor=OPERATOR
        )
        trace_origin_update(
            origin=origin,
            name=origin.name,
            address="内蒙古呼伦贝尔市陈巴尔虎旗巴彦库仁镇",
            latitude=origin.latitude,
            longitude=origin.longitude,
            description=origin.description,
            actor=OPERATOR,
        )
        # then the public page still shows version 1 as it was published
        page = trace_public_page(batch_id=lot.pk)
        assert page is not None
        assert page.version.number == 1
        assert page.records[0]["result"] == "合格"
        assert page.panoramas == []
        # when it is published again
        version = trace_publish(batch=lot, actor=OPERATOR, note="补充复检结果")
        # then version 2 is public and says what changed
        assert version.number == 2
        assert version.changes == [
            "产地地址：内蒙古自治区呼伦贝尔市陈巴尔虎旗 → 内蒙古呼伦贝尔市陈巴尔虎旗巴彦库仁镇",
            "修改检验报告「菌落总数」结果：合格 → 合格（第三方复检）",
            "新增360° 全景「牧场全景」",
        ]
        page = trace_public_page(batch_id=lot.pk)
        assert page is not None
        assert page.version.number == 2
        assert page.records[0]["result"] == "合格（第三方复检）"
        assert [v.number for v in page.history] == [2, 1]
        assert len(page.panoramas) == 1

    def test_a_deleted_record_is_listed_in_the_next_version(self) -> None:
        lot = make_lot()
        trace_origin_assign(batch=lot, origin=make_origin(), actor=OPERATOR)
        record = trace_record_add(
            batch=lot,
            kind="feed",
            occurred_on=yesterday(),
            title="青贮饲料",
            inspector="李强",
            actor=OPERATOR,
        )
        trace_publish(batch=lot, actor=OPERATOR)
        trace_record_delete(record=record, actor=OPERATOR)
        assert trace_publish(batch=lot, actor=OPERATOR).changes == ["删除饲养记录「青贮饲料」"]
