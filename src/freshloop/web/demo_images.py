"""Flat illustrations drawn for the demo at seed time (Pillow shapes, no text, nothing fetched):
a milk bottle, a yogurt cup, eggs, a rice sack, dumplings on a plate and the seasonal fruits.
Each product gets its category's drawing in its own colours; `demo_seed` attaches them through
`product_image_add` like any upload."""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable

from PIL import Image, ImageDraw

SIZE = 1080
_SS = 1.25  # drawn at twice the size and scaled down: smooth edges without an AA renderer
_U = SIZE * _SS / 100  # one unit = 1 % of the picture side

Color = tuple[int, int, int]
PASTELS: list[Color] = [
    (253, 240, 226),
    (232, 244, 236),
    (231, 240, 252),
    (252, 233, 236),
    (244, 238, 252),
    (255, 246, 214),
]
ACCENTS: list[Color] = [
    (47, 127, 193),
    (7, 193, 96),
    (232, 93, 117),
    (242, 153, 74),
    (130, 100, 210),
    (40, 160, 170),
]


def _pick(code: str, salt: int = 0) -> int:
    return hashlib.sha256(f"{code}:{salt}".encode()).digest()[0]


def _box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    return (x0 * _U, y0 * _U, x1 * _U, y1 * _U)


def _pts(*xy: tuple[float, float]) -> list[tuple[float, float]]:
    return [(x * _U, y * _U) for x, y in xy]


def _shade(color: Color, factor: float) -> Color:
    return (
        max(0, min(255, int(color[0] * factor))),
        max(0, min(255, int(color[1] * factor))),
        max(0, min(255, int(color[2] * factor))),
    )


def _ground(d: ImageDraw.ImageDraw, color: Color, cx: float = 50, w: float = 30) -> None:
    d.ellipse(_box(cx - w, 84, cx + w, 92), fill=_shade(color, 0.9))


def _milk(d: ImageDraw.ImageDraw, bg: Color, accent: Color, code: str) -> None:
    _ground(d, bg, w=22)
    glass = (250, 252, 255)
    d.rounded_rectangle(
        _box(33, 36, 67, 88),
        radius=7 * _U,
        fill=glass,
        outline=(210, 220, 230),
        width=int(0.6 * _U),
    )
    d.polygon(_pts((38, 36), (62, 36), (58, 24), (42, 24)), fill=glass)
    d.rectangle(_box(42, 18, 58, 25), fill=glass)
    d.rounded_rectangle(_box(40, 12, 60, 19), radius=2 * _U, fill=accent)
    d.rounded_rectangle(_box(33, 52, 67, 72), radius=1 * _U, fill=accent)
    # a drop of milk on the label, cow spots on the glass
    d.ellipse(_box(45, 56, 55, 68), fill=glass)
    d.polygon(_pts((46, 60), (54, 60), (50, 53)), fill=glass)
    spot = _shade(accent, 0.55)
    if _pick(code) % 2:
        d.ellipse(_box(37, 76, 45, 82), fill=spot)
        d.ellipse(_box(55, 40, 62, 46), fill=spot)
    d.rounded_rectangle(_box(36, 39, 39, 50), radius=1.5 * _U, fill=(255, 255, 255))


def _yogurt(d: ImageDraw.ImageDraw, bg: Color, accent: Color, code: str) -> None:
    _ground(d, bg, w=26)
    if "drink" in code:
        body = (255, 250, 240)
        d.rounded_rectangle(
            _box(38, 30, 62, 88),
            radius=8 * _U,
            fill=body,
            outline=_shade(accent, 0.8),
            width=int(0.6 * _U),
        )
        d.rounded_rectangle(_box(42, 20, 58, 31), radius=2 * _U, fill=accent)
        d.rectangle(_box(38, 50, 62, 68), fill=accent)
        d.ellipse(_box(45, 53, 55, 63), fill=body)
        return
    cup = (255, 252, 246)
    d.polygon(_pts((28, 40), (72, 40), (66, 88), (34, 88)), fill=cup, outline=_shade(accent, 0.8))
    d.polygon(_pts((30, 55), (70, 55), (68, 72), (32, 72)), fill=accent)
    d.ellipse(_box(26, 35, 74, 45), fill=_shade(accent, 0.85))
    d.ellipse(_box(28, 36, 72, 43), fill=(255, 255, 255))
    # a spoonful of yogurt and, on fruit cups, peach pieces
    d.ellipse(_box(38, 28, 62, 40), fill=(255, 255, 255))
    d.ellipse(_box(44, 22, 56, 32), fill=(255, 255, 255))
    if "fruit" in code:
        peach = (255, 179, 71)
        for x, y in ((36, 30), (58, 29), (50, 24)):
            d.pieslice(_box(x - 5, y - 5, x + 5, y + 5), 180, 360, fill=peach)
    if "greek" in code:
        d.ellipse(_box(52, 24, 60, 32), fill=(110, 60, 140))
        d.ellipse(_box(42, 27, 49, 34), fill=(90, 50, 130))


def _eggs(d: ImageDraw.ImageDraw, bg: Color, accent: Color, code: str) -> None:
    _ground(d, bg, w=34)
    # a woven basket with eggs sitting in it
    basket = (196, 140, 84)
    shells = [(246, 222, 190), (255, 244, 230), (236, 200, 160)]
    shell = shells[_pick(code) % 3]
    for i, (x, y) in enumerate(((30, 44), (50, 40), (70, 44), (40, 52), (60, 52))):
        d.ellipse(
            _box(x - 10, y - 13, x + 10, y + 13),
            fill=_shade(shell, 1.0 - 0.04 * (i % 2)),
            outline=_shade(shell, 0.85),
            width=int(0.4 * _U),
        )
        d.ellipse(_box(x - 6, y - 9, x - 2, y - 4), fill=(255, 255, 255))
    d.chord(_box(14, 40, 86, 96), 0, 180, fill=basket)
    d.rectangle(_box(16, 58, 84, 62), fill=_shade(basket, 0.85))
    for x in range(20, 82, 8):
        d.line(_pts((x, 63), (x + 3, 86)), fill=_shade(basket, 0.8), width=int(0.8 * _U))
    if "omega" in code:
        d.ellipse(_box(74, 16, 86, 28), fill=accent)
        d.ellipse(_box(77, 19, 83, 25), fill=(255, 255, 255))


def _rice(d: ImageDraw.ImageDraw, bg: Color, accent: Color, code: str, *, long: bool) -> None:
    _ground(d, bg, w=30)
    sack = (238, 224, 196)
    d.polygon(_pts((26, 34), (74, 34), (80, 82), (70, 88), (30, 88), (20, 82)), fill=sack)
    d.polygon(_pts((34, 18), (66, 18), (72, 34), (28, 34)), fill=_shade(sack, 0.95))
    d.rectangle(_box(30, 31, 70, 36), fill=accent)
    d.rounded_rectangle(_box(32, 50, 68, 74), radius=4 * _U, fill=accent)
    # grains spilling at the foot of the sack, on the label an ear of rice
    grain = (255, 253, 245)
    for i in range(14):
        angle = i * 2.3
        x = 50 + 36 * math.cos(angle) * (0.6 + 0.4 * ((i * 7) % 5) / 5)
        y = 88 + 4 * math.sin(angle * 1.7)
        w, h = (2.6, 1.0) if long else (1.8, 1.3)
        d.ellipse(_box(x - w, y - h, x + w, y + h), fill=grain, outline=_shade(sack, 0.8))
    d.line(_pts((50, 71), (50, 54)), fill=grain, width=int(0.9 * _U))
    for k in range(4):
        y = 56 + k * 3.5
        for side in (-1, 1):
            d.ellipse(_box(50 + side * 3 - 1.6, y - 1.1, 50 + side * 3 + 1.6, y + 1.1), fill=grain)


def _dumplings(d: ImageDraw.ImageDraw, bg: Color, accent: Color, code: str) -> None:
    d.ellipse(_box(12, 50, 88, 90), fill=_shade(bg, 0.88))
    d.ellipse(_box(10, 46, 90, 86), fill=(255, 255, 255))
    d.ellipse(_box(16, 50, 84, 82), outline=accent, width=int(1.2 * _U))
    dough = (252, 246, 232)
    for x, y in ((34, 60), (56, 56), (44, 70), (66, 68)):
        d.chord(
            _box(x - 13, y - 12, x + 13, y + 12),
            180,
            360,
            fill=dough,
            outline=_shade(dough, 0.8),
            width=int(0.4 * _U),
        )
        d.rectangle(_box(x - 13, y - 0.5, x + 13, y + 2.5), fill=dough)
        for k in range(-2, 3):
            d.line(
                _pts((x + k * 3.5, y - 9 + abs(k) * 1.5), (x + k * 4, y - 4)),
                fill=_shade(dough, 0.82),
                width=int(0.5 * _U),
            )
    d.line(_pts((68, 24), (84, 46)), fill=(150, 100, 60), width=int(1.6 * _U))
    d.line(_pts((74, 22), (88, 44)), fill=(150, 100, 60), width=int(1.6 * _U))
    fill = {"shrimp": (255, 140, 110), "lamb": (200, 120, 90), "veg": (120, 190, 90)}
    for key, colour in fill.items():
        if key in code:
            d.ellipse(_box(20, 22, 32, 34), fill=colour)


def _strawberry(d: ImageDraw.ImageDraw, x: float, y: float, r: float) -> None:
    d.polygon(
        _pts((x - r, y - r * 0.4), (x + r, y - r * 0.4), (x, y + r * 1.3)), fill=(226, 45, 62)
    )
    d.ellipse(_box(x - r, y - r, x + r, y + r * 0.6), fill=(226, 45, 62))
    for i in range(9):
        sx = x + (i % 3 - 1) * r * 0.45
        sy = y - r * 0.2 + (i // 3) * r * 0.4
        d.ellipse(_box(sx - 0.5, sy - 0.8, sx + 0.5, sy + 0.8), fill=(255, 220, 120))
    for a in range(5):
        ang = math.pi + a * math.pi / 4
        d.polygon(
            _pts(
                (x, y - r * 0.8),
                (x + math.cos(ang) * r * 0.9, y - r * 0.8 + math.sin(ang) * r * 0.4),
                (x + math.cos(ang + 0.4) * r * 0.5, y - r * 0.6),
            ),
            fill=(46, 160, 67),
        )


def _fruit(d: ImageDraw.ImageDraw, bg: Color, accent: Color, code: str) -> None:
    _ground(d, bg, w=34)
    leaf = (46, 160, 67)
    if "strawberry" in code:
        for x, y, r in ((28, 52, 11), (68, 46, 12), (50, 70, 10)):
            _strawberry(d, x, y, r)
    elif "lychee" in code:
        red = (214, 58, 72)
        for x, y in ((34, 58), (54, 52), (66, 66), (44, 72)):
            d.ellipse(_box(x - 11, y - 11, x + 11, y + 11), fill=red)
            for k in range(10):
                a = k * 0.63
                d.ellipse(
                    _box(
                        x + 6 * math.cos(a) - 1.2,
                        y + 6 * math.sin(a) - 1.2,
                        x + 6 * math.cos(a) + 1.2,
                        y + 6 * math.sin(a) + 1.2,
                    ),
                    fill=_shade(red, 0.78),
                )
        d.ellipse(_box(70, 34, 86, 50), fill=(255, 250, 240))
        d.ellipse(_box(75, 39, 81, 45), fill=(110, 60, 30))
        d.line(_pts((54, 41), (60, 24)), fill=(120, 90, 50), width=int(1 * _U))
        d.ellipse(_box(58, 18, 72, 27), fill=leaf)
    elif "kiwi" in code:
        d.ellipse(_box(18, 40, 52, 80), fill=(140, 100, 60))
        d.ellipse(_box(44, 34, 84, 74), fill=(140, 100, 60))
        d.ellipse(_box(47, 37, 81, 71), fill=(140, 196, 60))
        d.ellipse(_box(58, 48, 70, 60), fill=(240, 245, 210))
        for k in range(14):
            a = k * 2 * math.pi / 14
            d.ellipse(
                _box(
                    64 + 9 * math.cos(a) - 0.8,
                    54 + 9 * math.sin(a) - 1.2,
                    64 + 9 * math.cos(a) + 0.8,
                    54 + 9 * math.sin(a) + 1.2,
                ),
                fill=(30, 30, 30),
            )
    elif "apple" in code:
        red = (220, 50, 50)
        d.ellipse(_box(24, 36, 52, 84), fill=red)
        d.ellipse(_box(46, 36, 76, 84), fill=red)
        d.ellipse(_box(32, 44, 40, 56), fill=(255, 150, 150))
        d.line(_pts((50, 38), (53, 24)), fill=(110, 70, 40), width=int(1.4 * _U))
        d.ellipse(_box(53, 22, 68, 31), fill=leaf)
    else:  # citrus
        orange = (250, 150, 30)
        d.ellipse(_box(20, 42, 56, 78), fill=orange)
        d.ellipse(_box(48, 40, 82, 74), fill=_shade(orange, 1.05))
        d.ellipse(_box(51, 43, 79, 71), fill=(255, 214, 120))
        for k in range(8):
            a = k * math.pi / 4
            d.line(
                _pts((65, 57), (65 + 13 * math.cos(a), 57 + 13 * math.sin(a))),
                fill=(255, 240, 200),
                width=int(0.7 * _U),
            )
        d.ellipse(_box(34, 32, 46, 40), fill=leaf)


def _indica(d: ImageDraw.ImageDraw, bg: Color, accent: Color, code: str) -> None:
    _rice(d, bg, accent, code, long=True)


def _japonica(d: ImageDraw.ImageDraw, bg: Color, accent: Color, code: str) -> None:
    _rice(d, bg, accent, code, long=False)


def _grocery(d: ImageDraw.ImageDraw, bg: Color, accent: Color, code: str) -> None:
    """Vegetables as round produce with a leaf, meat as a marbled slab, seasoning as a bottle."""
    _ground(d, bg, w=32)
    if code.startswith("meat"):
        pink = (232, 150, 150) if "pork" in code else (246, 206, 180)
        d.rounded_rectangle(_box(22, 40, 78, 78), radius=8 * _U, fill=pink)
        for y in (50, 60, 70):
            d.line(_pts((26, y), (74, y - 4)), fill=(255, 240, 232), width=int(2 * _U))
        return
    if code.startswith("seasoning"):
        bottle = (120, 72, 40) if "soy" in code else (245, 245, 245)
        d.rounded_rectangle(
            _box(38, 34, 62, 86), radius=5 * _U, fill=bottle, outline=_shade(bottle, 0.8)
        )
        d.rectangle(_box(45, 22, 55, 34), fill=_shade(bottle, 0.85))
        d.rounded_rectangle(_box(40, 52, 60, 70), radius=2 * _U, fill=accent)
        return
    colours = {
        "tomato": (222, 56, 48),
        "potato": (206, 168, 110),
        "onion": (150, 70, 120),
        "greenpepper": (70, 160, 70),
        "leek": (236, 240, 220),
        "ginger": (214, 176, 110),
        "garlic": (244, 236, 226),
        "lettuce": (120, 190, 90),
    }
    colour = next((c for name, c in colours.items() if name in code), accent)
    for x, y, r in ((36, 60, 16), (62, 58, 15), (50, 72, 14)):
        d.ellipse(_box(x - r, y - r, x + r, y + r), fill=colour, outline=_shade(colour, 0.8))
        d.ellipse(
            _box(x - r * 0.5, y - r * 0.6, x - r * 0.1, y - r * 0.2), fill=_shade(colour, 1.15)
        )
    d.ellipse(_box(44, 34, 58, 44), fill=(46, 160, 67))


Drawer = Callable[[ImageDraw.ImageDraw, Color, Color, str], None]
DRAWINGS: dict[str, Drawer] = {
    "fresh-milk": _milk,
    "yogurt": _yogurt,
    "eggs": _eggs,
    "indica-rice": _indica,
    "japonica-rice": _japonica,
    "frozen-dumplings": _dumplings,
    "seasonal-fruit": _fruit,
    "vegetables": _grocery,
    "meat": _grocery,
    "seasoning": _grocery,
}


def _render(
    draw_fn: Callable[[ImageDraw.ImageDraw], None], bg: Color, size: tuple[int, int]
) -> bytes:
    canvas = Image.new("RGB", (int(size[0] * _SS), int(size[1] * _SS)), bg)
    draw_fn(ImageDraw.Draw(canvas))
    out = io.BytesIO()
    canvas.resize(size, Image.Resampling.BILINEAR).save(out, "PNG", compress_level=1)
    return out.getvalue()


def product_illustration(*, code: str, category: str) -> bytes:
    """A PNG of the product's category drawing in colours picked from its code."""
    bg = PASTELS[_pick(code, 1) % len(PASTELS)]
    accent = ACCENTS[_pick(code, 2) % len(ACCENTS)]
    drawer = DRAWINGS.get(category, _fruit)
    return _render(lambda d: drawer(d, bg, accent, code), bg, (SIZE, SIZE))


def live_cover() -> bytes:
    """The live room's cover: a breakfast table with milk, eggs and strawberries."""
    bg = (255, 236, 214)

    def scene(d: ImageDraw.ImageDraw) -> None:
        d.rectangle(_box(0, 62, 100, 100), fill=(214, 160, 110))
        d.rectangle(_box(0, 62, 100, 64), fill=(190, 136, 90))
        d.ellipse(_box(60, 6, 92, 38), fill=(255, 206, 120))
        _milk(d, bg, (47, 127, 193), "cover")
        d.ellipse(_box(6, 70, 40, 84), fill=(255, 255, 255))
        for x in (15, 24, 31):
            d.ellipse(_box(x - 5, 66, x + 5, 78), fill=(246, 222, 190))
        _strawberry(d, 80, 72, 7)
        _strawberry(d, 70, 78, 6)

    return _render(scene, bg, (SIZE, SIZE))
