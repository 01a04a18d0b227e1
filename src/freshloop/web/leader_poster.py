"""A group leader's poster as a PNG to save and post in WeChat (GB-1 materials): who the leader
is, where the pickup point is and when it opens, and their own invite QR (`/g/<invite_code>`).

Drawn on the server with Pillow, so what a leader saves is the same picture on every phone. The
text needs a CJK font: Debian's fonts-noto-cjk, which `make demo` / `make test` install
(scripts/system_deps.sh); a server without it answers the download with a clear 503.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

POSTER_WIDTH = 750
POSTER_HEIGHT = 1334
QR_TOP = 640
QR_BORDER_MODULES = 2
QR_MAX_SIDE = 440
"""The QR code's square: its top edge, its quiet zone in modules and the most it may take up
(whole pixels per module, so each module is a crisp square a phone camera reads)."""

MARGIN = 40
GREEN = (7, 193, 96)
INK = (34, 34, 34)
GREY = (136, 136, 136)
WHITE = (255, 255, 255)

CJK_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)


class PosterFontMissing(RuntimeError):
    """No CJK font on this server: the poster cannot be drawn."""


@dataclass(frozen=True)
class PosterText:
    brand: str
    leader_name: str
    pickup_name: str
    pickup_hours: str
    invite_code: str
    invite_link: str


@dataclass(frozen=True)
class QrPlacement:
    """Where the QR code's modules are on the poster (tests read the code back from here)."""

    left: int
    top: int
    module_px: int
    modules: int


def cjk_font_path() -> Path | None:
    return next((path for path in CJK_FONTS if path.exists()), None)


def qr_placement(link: str) -> QrPlacement:
    modules = len(segno.make_qr(link, error="m").matrix) + 2 * QR_BORDER_MODULES
    module_px = QR_MAX_SIDE // modules
    side = module_px * modules
    return QrPlacement(
        left=(POSTER_WIDTH - side) // 2, top=QR_TOP, module_px=module_px, modules=modules
    )


def leader_poster_png(text: PosterText) -> bytes:
    font_path = cjk_font_path()
    if font_path is None:
        raise PosterFontMissing("no CJK font installed (Debian: fonts-noto-cjk)")

    def font(size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(font_path), size)

    poster = Image.new("RGB", (POSTER_WIDTH, POSTER_HEIGHT), WHITE)
    draw = ImageDraw.Draw(poster)
    draw.rectangle((0, 0, POSTER_WIDTH, 300), fill=GREEN)
    _centred(draw, 70, text.brand, font(44), WHITE)
    _centred(draw, 150, "社区团购 · 小区自提", font(30), WHITE)
    _centred(draw, 210, "新鲜好货，到小区门口就能取", font(26), WHITE)
    _centred(draw, 350, f"团长 {text.leader_name}", font(48), INK)
    _centred(draw, 440, f"自提点：{text.pickup_name}", font(30), INK)
    _centred(draw, 495, text.pickup_hours, font(28), GREY)
    _centred(draw, 575, "微信扫码，绑定团长", font(30), GREEN)
    _draw_qr(draw, text.invite_link)
    placement = qr_placement(text.invite_link)
    below_qr = placement.top + placement.module_px * placement.modules + 40
    _centred(draw, below_qr, f"邀请码 {text.invite_code}", font(30), INK)
    _centred(draw, below_qr + 60, "长按识别二维码，下单后到自提点取货", font(24), GREY)
    buffer = io.BytesIO()
    poster.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _centred(
    draw: ImageDraw.ImageDraw,
    top: int,
    line: str,
    font: ImageFont.FreeTypeFont,
    fill: tuple[int, int, int],
) -> None:
    """One line centred; a line too long for the poster (a long pickup point name) is set
    smaller until it fits rather than cut off at the edges."""
    while draw.textlength(line, font=font) > POSTER_WIDTH - 2 * MARGIN and font.size > 14:
        font = font.font_variant(size=font.size - 2)
    width = draw.textlength(line, font=font)
    draw.text(((POSTER_WIDTH - width) / 2, top), line, font=font, fill=fill)


def _draw_qr(draw: ImageDraw.ImageDraw, link: str) -> None:
    placement = qr_placement(link)
    size = placement.module_px
    for row, cells in enumerate(segno.make_qr(link, error="m").matrix):
        for column, dark in enumerate(cells):
            if dark:
                left = placement.left + (column + QR_BORDER_MODULES) * size
                top = placement.top + (row + QR_BORDER_MODULES) * size
                draw.rectangle((left, top, left + size - 1, top + size - 1), fill=INK)
