"""The content library: tagged materials, filters, permissions, uploads and bad input."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from freshloop.content import selectors, services
from freshloop.content.errors import ContentItemInvalid
from freshloop.content.models import ContentItem, Recipe
from freshloop.core.audit import Actor
from freshloop.core.images import ImageRejected
from freshloop.core.permissions import Role
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db
BASE = "/api/v1/content"
MARKETER = Actor(type="user", id="1", label="小周")


def picture() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (600, 400), (200, 40, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


def operator(role: Role | None, username: str = "") -> Client:
    client = Client()
    roles = (role,) if role else ()
    client.force_login(make_staff_user(username or (role.value if role else "nobody"), *roles))
    return client


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def _library() -> None:
    services.content_item_create(
        kind="copy",
        title="冬至饺子文案",
        body="冬至到，吃饺子",
        tags=["冬至", "饺子"],
        actor=MARKETER,
    )
    services.content_item_create(
        kind="video",
        title="牧场直播回放",
        video_url="https://cdn.example.com/v.m3u8",
        tags=["牧场"],
        actor=MARKETER,
    )
    services.content_item_create(
        kind="poster", title="中秋礼盒海报", image=picture(), tags=["中秋"], actor=MARKETER
    )


class TestContentItemCreate:
    def test_poster_image_is_stored_in_page_sizes(self) -> None:
        item = services.content_item_create(
            kind="poster", title="海报", image=picture(), tags=["中秋", "中秋", " "], actor=MARKETER
        )
        assert default_storage.exists(item.image_webp_400)
        assert (item.image_width, item.image_height) == (600, 400)
        assert [t.name for t in item.tags.all()] == ["中秋"]

    def test_a_broken_image_is_refused_and_nothing_written(self) -> None:
        with pytest.raises(ImageRejected):
            services.content_item_create(
                kind="poster", title="海报", image=b"not an image", actor=MARKETER
            )
        assert ContentItem.objects.count() == 0

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"kind": "recipe", "title": "x"}, "kind"),
            ({"kind": "copy", "title": ""}, "title"),
            ({"kind": "video", "title": "x"}, "video_url"),
            ({"kind": "video", "title": "x", "video_url": "javascript:alert(1)"}, "video_url"),
            ({"kind": "poster", "title": "x"}, "image"),
            ({"kind": "copy", "title": "x", "tags": [str(i) for i in range(11)]}, "tags"),
        ],
    )
    def test_bad_input(self, kwargs: dict[str, Any], field: str) -> None:
        with pytest.raises(ContentItemInvalid) as caught:
            services.content_item_create(actor=MARKETER, **kwargs)
        assert caught.value.detail[0]["field"] == field
        assert ContentItem.objects.count() == 0


class TestContentItemsList:
    def test_filter_by_tag_kind_and_words(self) -> None:
        _library()
        assert [i.title for i in selectors.content_items_list(tag="冬至")] == ["冬至饺子文案"]
        assert [i.title for i in selectors.content_items_list(kind="video")] == ["牧场直播回放"]
        assert [i.title for i in selectors.content_items_list(query="礼盒")] == ["中秋礼盒海报"]
        assert dict(selectors.content_tags()) == {"冬至": 1, "饺子": 1, "牧场": 1, "中秋": 1}

    def test_archived_items_leave_the_list(self) -> None:
        _library()
        item = selectors.content_items_list(tag="牧场")[0]
        services.content_item_archive(item_id=item.pk, actor=MARKETER)
        assert list(selectors.content_items_list(tag="牧场")) == []


class TestContentApi:
    def test_live_host_reads_filtered_list(self) -> None:
        _library()
        answer = operator(Role.LIVE_HOST).get(f"{BASE}/items?tag=中秋")
        assert answer.status_code == 200
        items = answer.json()["items"]
        assert [i["title"] for i in items] == ["中秋礼盒海报"]
        assert items[0]["image_url"]

    def test_marketer_creates_and_live_host_may_not(self) -> None:
        body = {"kind": "copy", "title": "团长话术", "tags": ["团购"]}
        created = post(operator(Role.MARKETER), f"{BASE}/items", body)
        assert created.status_code == 201
        assert created.json()["tags"] == ["团购"]
        refused = post(operator(Role.LIVE_HOST), f"{BASE}/items", body)
        assert refused.status_code == 403
        assert ContentItem.objects.count() == 1

    def test_no_role_and_anonymous(self) -> None:
        assert operator(None).get(f"{BASE}/items").status_code == 403
        assert Client().get(f"{BASE}/items").status_code == 401

    @pytest.mark.parametrize(
        "body",
        [
            {"kind": "recipe", "title": "x"},
            {"kind": "copy"},
            {"kind": "copy", "title": "x", "tags": "冬至"},
            {"kind": "video", "title": "x"},
        ],
    )
    def test_bad_input_is_4xx(self, body: dict[str, Any]) -> None:
        answer = post(operator(Role.MARKETER), f"{BASE}/items", body)
        assert answer.status_code == 422
        assert answer.json()["message"]
        assert ContentItem.objects.count() == 0

    def test_operator_recipe_and_its_match(self) -> None:
        from tests.content.conftest import load_test_catalogue

        load_test_catalogue()
        client = operator(Role.MARKETER)
        created = post(
            client,
            f"{BASE}/recipes",
            {"name": "葱油拌面", "ingredient_lines": ["小葱 5 根", "生抽 2 勺"], "servings": 2},
        )
        assert created.status_code == 201
        recipe_id = created.json()["id"]
        match = client.get(f"{BASE}/recipes/{recipe_id}/match").json()
        assert [(m["ingredient"], m["sku_code"], m["packs"]) for m in match["lines"]] == [
            ("葱", "veg-scallion-100g", 1),
            ("生抽", "sauce-lightsoy-500ml", 1),
        ]
        assert client.get(f"{BASE}/recipes/999999").status_code == 404
        bad = post(client, f"{BASE}/recipes", {"name": "x", "ingredient_lines": []})
        assert bad.status_code == 422
        assert Recipe.objects.count() == 1
