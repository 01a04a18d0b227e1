"""A live session's cover picture: uploaded through the same checks as product images."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from freshloop.core.audit import Actor
from freshloop.core.images import ImageRejected
from freshloop.live.models import LiveSession
from freshloop.live.room.services import live_session_cover_upload
from tests.live.helpers import make_session

pytestmark = pytest.mark.django_db


def test_an_uploaded_cover_becomes_the_cover_url() -> None:
    session = make_session()
    out = io.BytesIO()
    Image.new("RGB", (1600, 900), (30, 120, 200)).save(out, "PNG")
    live_session_cover_upload(session=session, file=out.getvalue(), actor=Actor.system("tests"))
    url = LiveSession.objects.get(pk=session.pk).cover_url
    assert url.startswith(f"/media/live/{session.code}/")
    assert url.endswith("/w1080.jpg")
    with default_storage.open(url.removeprefix("/media/")) as handle:
        assert Image.open(handle).size == (1080, 608)


def test_a_cover_that_is_not_a_picture_is_refused_and_the_old_one_kept() -> None:
    session = make_session()
    with pytest.raises(ImageRejected):
        live_session_cover_upload(session=session, file=b"not a picture", actor=Actor.system("t"))
    assert LiveSession.objects.get(pk=session.pk).cover_url == ""
