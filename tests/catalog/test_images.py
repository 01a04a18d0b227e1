"""Product pictures: only real images pass, they are turned upright and stripped of EXIF, the
400/1080 px variants are made once at upload, and the shop shows them with srcset."""

from __future__ import annotations

import io
import os
import re

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from freshloop.catalog.models import ProductImage
from freshloop.catalog.services import product_image_add, product_image_delete
from freshloop.core.audit import Actor
from freshloop.core.errors import InvalidInput
from freshloop.core.images import ImageRejected
from tests.factories import make_sku

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


def picture(
    width: int = 1600, height: int = 1200, fmt: str = "JPEG", exif: Image.Exif | None = None
) -> bytes:
    image = Image.new("RGB", (width, height), (200, 40, 40))
    # a white block in the top-left corner tells which way up the picture is
    image.paste((255, 255, 255), (0, 0, width // 4, height // 4))
    out = io.BytesIO()
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def opened(name: str) -> Image.Image:
    with default_storage.open(name) as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
        return image


class TestProductImageAdd:
    def test_a_real_photo_gets_its_variants(self) -> None:
        sku = make_sku()
        image = product_image_add(
            product=sku.product, file=picture(), actor=ACTOR, alt="一瓶牛奶", sku=sku
        )
        assert (image.width, image.height, image.sku, image.alt) == (1600, 1200, sku, "一瓶牛奶")
        small, large, fallback = (
            opened(image.webp_400.name),
            opened(image.webp_1080.name),
            opened(image.jpeg_1080.name),
        )
        assert (small.format, small.size) == ("WEBP", (400, 300))
        assert (large.format, large.size) == ("WEBP", (1080, 810))
        assert (fallback.format, fallback.size) == ("JPEG", (1080, 810))
        assert opened(image.original.name).size == (1600, 1200)
        assert image.srcset == f"{image.webp_400.url} 400w, {image.webp_1080.url} 1080w"
        assert image.url.startswith("/media/catalog/")

    def test_png_and_webp_are_accepted_too_and_a_small_one_is_not_enlarged(self) -> None:
        product = make_sku().product
        png = product_image_add(product=product, file=picture(300, 200, "PNG"), actor=ACTOR)
        webp = product_image_add(product=product, file=picture(500, 500, "WEBP"), actor=ACTOR)
        assert opened(png.webp_1080.name).size == (300, 200)
        assert opened(webp.webp_400.name).size == (400, 400)
        assert [png.sort_order, webp.sort_order] == [0, 1]

    def test_exif_orientation_is_applied_and_exif_removed(self) -> None:
        exif = Image.Exif()
        exif[0x0112] = 6  # stored sideways: the camera was turned a quarter clockwise
        exif[0x010F] = "手机厂商"
        image = product_image_add(
            product=make_sku().product, file=picture(800, 600, exif=exif), actor=ACTOR
        )
        for name in (image.original.name, image.jpeg_1080.name, image.webp_1080.name):
            stored = opened(name)
            assert stored.size == (600, 800), name
            assert not stored.getexif(), name
            # the white corner is now top-right: rotated, not just relabelled
            assert stored.convert("RGB").getpixel((590, 10)) > (240, 240, 240)
            assert stored.convert("RGB").getpixel((10, 10))[1] < 100

    def test_a_text_file_named_jpg_is_refused(self) -> None:
        upload = SimpleUploadedFile("milk.jpg", "这不是图片".encode(), content_type="image/jpeg")
        with pytest.raises(ImageRejected) as refused:
            product_image_add(product=make_sku().product, file=upload, actor=ACTOR)
        assert refused.value.code == "image_invalid"
        assert "不是有效的图片" in refused.value.text
        assert not ProductImage.objects.exists()

    def test_a_gif_is_refused(self) -> None:
        out = io.BytesIO()
        Image.new("RGB", (10, 10)).save(out, "GIF")
        with pytest.raises(ImageRejected, match="JPEG、PNG 或 WebP"):
            product_image_add(product=make_sku().product, file=out.getvalue(), actor=ACTOR)

    def test_more_than_6000_px_a_side_is_refused(self) -> None:
        out = io.BytesIO()
        Image.new("L", (6001, 10)).save(out, "PNG")
        with pytest.raises(ImageRejected, match="6000 像素"):
            product_image_add(product=make_sku().product, file=out.getvalue(), actor=ACTOR)

    def test_a_decompression_bomb_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
        with pytest.raises(ImageRejected, match="像素过多"):
            product_image_add(
                product=make_sku().product, file=picture(100, 100, "PNG"), actor=ACTOR
            )

    def test_more_than_10_mb_is_refused(self) -> None:
        with pytest.raises(ImageRejected, match="10 MB"):
            product_image_add(
                product=make_sku().product,
                file=picture(10, 10) + b"\0" * (10 * 1024 * 1024),
                actor=ACTOR,
            )

    def test_a_sku_of_another_product_is_refused(self) -> None:
        with pytest.raises(InvalidInput, match="SKU 不属于"):
            product_image_add(
                product=make_sku().product, file=picture(), actor=ACTOR, sku=make_sku()
            )

    def test_delete_removes_the_files(self, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
        image = product_image_add(product=make_sku().product, file=picture(), actor=ACTOR)
        names = [image.original.name, image.webp_400.name, image.jpeg_1080.name]
        with django_capture_on_commit_callbacks(execute=True):
            product_image_delete(image=image, actor=ACTOR)
        assert not any(default_storage.exists(name) for name in names)


class TestAdminUpload:
    def form(self, product, **extra: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
        sku = product.skus.get()
        data: dict[str, object] = {
            "code": product.code,
            "name": product.name,
            "category": product.category_id,
            "description": "",
            "image_url": "",
            "is_active": "on",
            "storage": product.storage,
            "shelf_life_days": product.shelf_life_days,
            "origin": "",
            "certifications": "[]",
            "allergens": "[]",
            "sold_in_live": "on",
            "sold_in_shop": "on",
            "sold_in_groupbuy": "on",
            "skus-TOTAL_FORMS": 1,
            "skus-INITIAL_FORMS": 1,
            "skus-0-id": sku.pk,
            "skus-0-product": product.pk,
            "skus-0-code": sku.code,
            "skus-0-spec": sku.spec,
            "skus-0-price_fen": sku.price_fen,
            "skus-0-is_active": "on",
            "images-TOTAL_FORMS": 1,
            "images-INITIAL_FORMS": 0,
            "images-0-product": product.pk,
            "images-0-alt": "瓶装鲜奶",
            "images-0-sort_order": 0,
        }
        data.update(extra)
        return data

    def test_an_upload_goes_through_the_service(self, admin_client: Client) -> None:
        product = make_sku().product
        upload = SimpleUploadedFile("milk.jpg", picture(), content_type="image/jpeg")
        response = admin_client.post(
            f"/admin/catalog/product/{product.pk}/change/",
            self.form(product, **{"images-0-upload": upload}),
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        image = ProductImage.objects.get(product=product)
        assert image.alt == "瓶装鲜奶"
        assert opened(image.webp_400.name).size == (400, 300)
        from freshloop.core.models import AuditLog

        assert AuditLog.objects.filter(action="catalog.product_image_add").exists()

    def test_a_photo_larger_than_the_api_body_limit_still_uploads(
        self, admin_client: Client, settings: object
    ) -> None:
        # given a 5 MB photo, more than the 2 MB every other request may send
        product = make_sku().product
        noise = Image.frombytes("RGB", (1400, 1300), os.urandom(1400 * 1300 * 3))
        out = io.BytesIO()
        noise.save(out, "PNG", compress_level=0)
        assert len(out.getvalue()) > settings.FRESHLOOP.max_body_bytes  # type: ignore[attr-defined]
        upload = SimpleUploadedFile("big.png", out.getvalue(), content_type="image/png")
        # when the back office uploads it, then it is stored
        response = admin_client.post(
            f"/admin/catalog/product/{product.pk}/change/",
            self.form(product, **{"images-0-upload": upload}),
        )
        assert response.status_code == 302
        assert ProductImage.objects.get(product=product).width == 1400

    def test_a_new_file_on_an_existing_row_replaces_that_picture(
        self, admin_client: Client
    ) -> None:
        product = make_sku().product
        old = product_image_add(product=product, file=picture(), actor=ACTOR, alt="旧图")
        upload = SimpleUploadedFile("new.png", picture(900, 900, "PNG"), content_type="image/png")
        response = admin_client.post(
            f"/admin/catalog/product/{product.pk}/change/",
            self.form(
                product,
                **{
                    "images-INITIAL_FORMS": 1,
                    "images-0-id": old.pk,
                    "images-0-alt": "新图",
                    "images-0-upload": upload,
                },
            ),
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        (image,) = ProductImage.objects.filter(product=product)
        assert (image.pk != old.pk, image.alt, image.width) == (True, "新图", 900)

    def test_a_renamed_text_file_is_a_message_on_the_form(self, admin_client: Client) -> None:
        product = make_sku().product
        upload = SimpleUploadedFile("milk.jpg", b"hello", content_type="image/jpeg")
        response = admin_client.post(
            f"/admin/catalog/product/{product.pk}/change/",
            self.form(product, **{"images-0-upload": upload}),
        )
        assert response.status_code == 200
        assert "不是有效的图片" in response.content.decode()
        assert not ProductImage.objects.exists()

    def test_the_change_page_shows_the_inline_with_a_preview(self, admin_client: Client) -> None:
        product = make_sku().product
        image = product_image_add(product=product, file=picture(), actor=ACTOR)
        page = admin_client.get(f"/admin/catalog/product/{product.pk}/change/").content.decode()
        assert image.webp_400.url in page
        assert 'name="images-0-upload"' in page


class TestShopPages:
    def test_product_page_shows_the_gallery_with_srcset(self, client: Client) -> None:
        sku = make_sku(stock=3)
        first = product_image_add(product=sku.product, file=picture(), actor=ACTOR, alt="正面")
        second = product_image_add(product=sku.product, file=picture(), actor=ACTOR, alt="背面")
        page = client.get(f"/m/products/{sku.product.pk}").content.decode()
        assert 'data-testid="gallery"' in page
        assert f'srcset="{first.webp_400.url} 400w, {first.webp_1080.url} 1080w"' in page
        assert 'type="image/webp"' in page
        assert f'src="{second.jpeg_1080.url}" alt="背面" loading="lazy"' in page
        assert page.index(first.jpeg_1080.url) < page.index(second.jpeg_1080.url)

    def test_shop_tile_shows_the_first_picture_and_the_gradient_without_one(
        self, client: Client
    ) -> None:
        with_photo = make_sku(stock=3, name="鲜牛奶")
        make_sku(stock=3, name="土鸡蛋")
        image = product_image_add(product=with_photo.product, file=picture(), actor=ACTOR)
        page = client.get("/m/").content.decode()
        assert image.webp_400.url in page
        assert len(re.findall(r'data-testid="product-photo"', page)) == 1
        assert '<div class="thumb thumb--chilled">土鸡</div>' in page

    def test_media_files_are_served_in_the_demo(self, client: Client) -> None:
        image = product_image_add(product=make_sku().product, file=picture(), actor=ACTOR)
        response = client.get(image.webp_400.url)
        assert response.status_code == 200
        assert "immutable" in response["Cache-Control"]
        assert b"".join(response.streaming_content)[:4] == b"RIFF"  # type: ignore[attr-defined]
