"""Uploaded pictures (product photos, live covers): checked with Pillow, turned upright, stripped of
EXIF, and cut once into the sizes the pages ask for.

Only real JPEG, PNG and WebP files pass: the bytes are opened and verified, whatever the file is
called. Sizes are made at upload, never per request: a 400 px and a 1080 px WebP for `srcset`,
and a 1080 px JPEG for browsers without WebP. Everything is written to Django's default storage
(MEDIA_ROOT on disk; a CDN or object storage in front in production, docs/operator-guide.md).
"""

from __future__ import annotations

import io
import uuid
import warnings
from dataclasses import dataclass
from typing import IO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps, UnidentifiedImageError

from freshloop.core.errors import InvalidInput

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_SIDE_PX = 6000
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
VARIANT_WIDTHS = (400, 1080)


class ImageRejected(InvalidInput):
    code = "image_invalid"


@dataclass(frozen=True)
class StoredImage:
    """Storage names (not URLs) of the original and its variants, and the upright size."""

    original: str
    webp_400: str
    webp_1080: str
    jpeg_1080: str
    width: int
    height: int


def _read(file: IO[bytes] | bytes) -> bytes:
    if isinstance(file, bytes):
        data = file
    else:
        if hasattr(file, "seek"):
            file.seek(0)
        data = file.read(MAX_UPLOAD_BYTES + 1)
    if not data:
        raise ImageRejected("图片文件是空的")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected(
            "图片不能超过 10 MB", detail={"max_bytes": MAX_UPLOAD_BYTES, "bytes": len(data)}
        )
    return data


def image_check(file: IO[bytes] | bytes) -> tuple[bytes, str]:
    """The bytes and format of a real JPEG/PNG/WebP, or ImageRejected with the reason in Chinese."""
    data = _read(file)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse it all the same.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                probe.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("图片像素过多，无法处理") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRejected("文件不是有效的图片，请上传 JPEG、PNG 或 WebP 图片") from None
    if fmt not in ALLOWED_FORMATS:
        raise ImageRejected("只支持 JPEG、PNG 或 WebP 图片", detail={"format": fmt or "unknown"})
    if max(width, height) > MAX_SIDE_PX:
        raise ImageRejected(
            f"图片边长不能超过 {MAX_SIDE_PX} 像素",
            detail={"width": width, "height": height, "max_side": MAX_SIDE_PX},
        )
    return data, fmt


def _upright(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as source:
                source.load()
                image = ImageOps.exif_transpose(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("图片像素过多，无法处理") from None
    except (OSError, SyntaxError, ValueError):
        raise ImageRejected("图片文件已损坏，无法读取") from None
    has_alpha = image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)
    return image.convert("RGBA" if has_alpha else "RGB")


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        if image.mode != "RGB":
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A") if "A" in image.mode else None)
            image = flat
        image.save(out, "JPEG", quality=85, progressive=True)
    elif fmt == "WEBP":
        image.save(out, "WEBP", quality=82, method=2)
    else:
        image.save(out, "PNG", compress_level=6)
    return out.getvalue()


def _resized(image: Image.Image, width: int) -> Image.Image:
    if image.width <= width:
        return image
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def image_store(*, file: IO[bytes] | bytes, folder: str) -> StoredImage:
    """Check, turn upright, strip metadata and write the original plus its variants under
    `folder/<random>/`. The original is re-encoded (same format) so no EXIF or GPS survives."""
    data, fmt = image_check(file)
    image = _upright(data)
    base = f"{folder.strip('/')}/{uuid.uuid4().hex}"
    ext = ALLOWED_FORMATS[fmt]

    def save(name: str, content: bytes) -> str:
        return default_storage.save(f"{base}/{name}", ContentFile(content))

    large = _resized(image, VARIANT_WIDTHS[1])
    return StoredImage(
        original=save(f"original.{ext}", _encode(image, fmt)),
        webp_400=save("w400.webp", _encode(_resized(image, VARIANT_WIDTHS[0]), "WEBP")),
        webp_1080=save("w1080.webp", _encode(large, "WEBP")),
        jpeg_1080=save("w1080.jpg", _encode(large, "JPEG")),
        width=image.width,
        height=image.height,
    )


def image_delete(stored: StoredImage) -> None:
    for name in (stored.original, stored.webp_400, stored.webp_1080, stored.jpeg_1080):
        if name:
            default_storage.delete(name)
