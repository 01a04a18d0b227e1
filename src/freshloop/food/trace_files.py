"""Uploads of the traceability pages: record photos and tour pictures through core/images.py,
PDF documents and short videos checked by their bytes (never by their names).

Files stay in storage after their record or tour stop is deleted while a published version
still names them: the public page keeps showing what was published (trace.py decides)."""

from __future__ import annotations

import io
import uuid
from typing import IO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from freshloop.core.errors import InvalidInput
from freshloop.core.images import MAX_UPLOAD_BYTES, StoredImage, image_check, image_store

PANORAMA_RATIO_TOLERANCE = 0.02
"""An equirectangular panorama is twice as wide as high; a phone's stitched export may be a
few pixels off, anything else would look warped in the viewer."""
PANORAMA_MIN_WIDTH = 1024


class TraceFileRejected(InvalidInput):
    code = "trace_file_invalid"


def _read(file: IO[bytes] | bytes, *, what: str) -> bytes:
    if isinstance(file, bytes):
        data = file
    else:
        if hasattr(file, "seek"):
            file.seek(0)
        data = file.read(MAX_UPLOAD_BYTES + 1)
    if not data:
        raise TraceFileRejected(f"{what}文件是空的")
    if len(data) > MAX_UPLOAD_BYTES:
        raise TraceFileRejected(
            f"{what}不能超过 10 MB", detail={"max_bytes": MAX_UPLOAD_BYTES, "bytes": len(data)}
        )
    return data


def _save(folder: str, name: str, data: bytes) -> str:
    return default_storage.save(f"{folder.strip('/')}/{uuid.uuid4().hex}/{name}", ContentFile(data))


def pdf_store(*, file: IO[bytes] | bytes, folder: str) -> str:
    """Store a PDF document (inspection report, certificate); its storage name."""
    data = _read(file, what="文件")
    if not data.startswith(b"%PDF-"):
        raise TraceFileRejected("文件不是有效的 PDF，请上传 PDF 格式的检验报告或证明")
    return _save(folder, "document.pdf", data)


def video_store(*, file: IO[bytes] | bytes, folder: str) -> str:
    """Store a short MP4 or WebM clip; its storage name."""
    data = _read(file, what="视频")
    if data[4:8] == b"ftyp":
        return _save(folder, "video.mp4", data)
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return _save(folder, "video.webm", data)
    raise TraceFileRejected("视频只支持 MP4 或 WebM 格式")


def panorama_check(file: IO[bytes] | bytes) -> None:
    """Refuse a picture that is not an equirectangular panorama (2:1, at least 1024 px wide)."""
    data, _fmt = image_check(file)
    with Image.open(io.BytesIO(data)) as probe:
        width, height = probe.size
    if width < PANORAMA_MIN_WIDTH or abs(width / height - 2) > 2 * PANORAMA_RATIO_TOLERANCE:
        raise TraceFileRejected(
            "全景图须为 2:1 的等距柱状投影图片，宽度至少 1024 像素",
            detail={"width": width, "height": height},
        )


def picture_store(*, file: IO[bytes] | bytes, folder: str) -> StoredImage:
    return image_store(file=file, folder=folder)


def stored_delete(names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)
