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


def test_the_product_sheet_shows_the_sku_picture_first() -> None:
    from freshloop.catalog.services import product_image_add, sku_upsert
    from freshloop.live.room.selectors import room_state
    from tests.factories import make_sku

    milk = make_sku(stock=5)
    big = sku_upsert(product=milk.product, code="milk-big", spec="1.5L", price_fen=2000)
    plain = make_sku(stock=5, name="土鸡蛋")
    out = io.BytesIO()
    Image.new("RGB", (600, 600), (250, 250, 250)).save(out, "JPEG")
    actor = Actor.system("tests")
    product_image_add(product=milk.product, file=out.getvalue(), actor=actor)
    own = product_image_add(product=milk.product, file=out.getvalue(), actor=actor, sku=big)
    session = make_session(skus=[milk, big, plain])
    cards = {card["sku_id"]: card for card in room_state(session=session, person=None)["products"]}
    assert cards[big.pk]["thumb"] == own.webp_400.url
    assert cards[milk.pk]["thumb"].endswith("/w400.webp")
    assert cards[milk.pk]["thumb"] != own.webp_400.url
    assert cards[plain.pk]["thumb"] == ""
