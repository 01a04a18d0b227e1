"""Understanding an ingredient line: "- 生抽 15ml", "- 青辣椒 = 份数 * 0.5 个", "- 姜： 6 片".

A line becomes a name (what is asked for), a normalised ingredient (the key SKUs are matched on)
and a quantity in a unit. Normalising: the exact name in the synonym table (西红柿 → 番茄,
姜片 → 姜); else the longest known food word the name ends with (Chinese food names put the head
last: 黑猪五花肉 → 五花肉); else jieba, with the food dictionary shipped in `dictionary/`, cuts
the name and the last known food word wins (红烧老抽王 → 老抽). The dictionary keeps compounds
that are other products whole (鸡蛋面 is noodles, 番茄酱 is a sauce, 姜粉 is not ginger), so
those never normalise to the ingredient inside them.

The same function normalises product names, so matching is "same normalised ingredient".
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import jieba

DICTIONARY = Path(__file__).parent / "dictionary"

# unit → (dimension, factor to the dimension's base: g, ml or one piece)
UNITS: dict[str, tuple[str, Decimal]] = {
    "g": ("g", Decimal(1)),
    "克": ("g", Decimal(1)),
    "公克": ("g", Decimal(1)),
    "kg": ("g", Decimal(1000)),
    "千克": ("g", Decimal(1000)),
    "公斤": ("g", Decimal(1000)),
    "斤": ("g", Decimal(500)),
    "两": ("g", Decimal(50)),
    "ml": ("ml", Decimal(1)),
    "毫升": ("ml", Decimal(1)),
    "l": ("ml", Decimal(1000)),
    "升": ("ml", Decimal(1000)),
    "汤匙": ("ml", Decimal(15)),
    "大勺": ("ml", Decimal(15)),
    "汤勺": ("ml", Decimal(15)),
    "勺": ("ml", Decimal(15)),
    "茶匙": ("ml", Decimal(5)),
    "小勺": ("ml", Decimal(5)),
}
PIECE_UNITS = [
    "个",
    "只",
    "枚",
    "颗",
    "根",
    "瓣",
    "片",
    "头",
    "块",
    "朵",
    "条",
    "段",
    "棵",
    "把",
    "粒",
    "张",
    "袋",
    "包",
    "盒",
    "瓶",
    "罐",
    "串",
    "听",
]
_UNIT_ALTERNATION = "|".join(
    sorted([re.escape(u) for u in UNITS] + PIECE_UNITS, key=len, reverse=True)
)
CHINESE_NUMBERS = {
    "半": Decimal("0.5"),
    "一": Decimal(1),
    "二": Decimal(2),
    "两": Decimal(2),
    "三": Decimal(3),
    "四": Decimal(4),
    "五": Decimal(5),
    "六": Decimal(6),
    "七": Decimal(7),
    "八": Decimal(8),
    "九": Decimal(9),
    "十": Decimal(10),
}
# "450-500g" asks for up to 500 g: shopping buys the upper end of a range.
QUANTITY = re.compile(
    r"(?P<num>\d+(?:\.\d+)?)(?:\s*[-~～至到]\s*(?P<upper>\d+(?:\.\d+)?))?\s*(?P<unit>"
    + _UNIT_ALTERNATION
    + r")(?![a-z])"
    + r"|(?P<cn>[半一二两三四五六七八九十])(?P<cnunit>"
    + _UNIT_ALTERNATION
    + r")",
    re.IGNORECASE,
)
NAME_END = re.compile(r"[\s=＝:：,，、;；（(\[【/+＋*×\d]")
NAME_SUFFIXES = ("的数量", "的用量", "的量", "数量", "用量", "适量", "少许", "若干", "量")
LEADING_MARK = re.compile(r"^\s*[-*•·]+\s*")


@dataclass(frozen=True)
class ParsedLine:
    text: str
    name: str
    ingredient: str  # "" when the name is no known food
    quantity: Decimal | None
    unit: str  # "" when no quantity


@lru_cache(maxsize=1)
def _synonyms() -> dict[str, str]:
    table: dict[str, str] = {}
    for raw in (DICTIONARY / "synonyms.txt").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        canonical, _, aliases = line.partition(":")
        table[canonical.strip()] = canonical.strip()
        for alias in aliases.split():
            table[alias] = canonical.strip()
    return table


@lru_cache(maxsize=1)
def _food_words() -> frozenset[str]:
    words = {
        line.split()[0]
        for line in (DICTIONARY / "food_dict.txt").read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    return frozenset(words | set(_synonyms()))


@lru_cache(maxsize=1)
def _tokenizer() -> jieba.Tokenizer:
    # Our own tokenizer, so the food dictionary never changes how other modules' jieba cuts text.
    # jieba announces building its dictionary at DEBUG on its own logger, in every process.
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.load_userdict(str(DICTIONARY / "food_dict.txt"))
    return tokenizer


def ingredient_normalise(name: str) -> str:
    """The normalised ingredient a name (of a recipe line or a product) asks for, or ""."""
    name = name.strip()
    if not name:
        return ""
    synonyms, words = _synonyms(), _food_words()
    if name in words:
        return synonyms.get(name, name)
    for start in range(1, len(name)):
        tail = name[start:]
        if len(tail) >= 1 and tail in words:
            return synonyms.get(tail, tail)
    for token in reversed(_tokenizer().lcut(name)):
        if token in words:
            return synonyms.get(token, token)
    return ""


def _number(match: re.Match[str]) -> tuple[Decimal, str]:
    if match.group("cn"):
        return CHINESE_NUMBERS[match.group("cn")], match.group("cnunit")
    upper = match.group("upper")
    return Decimal(upper or match.group("num")), match.group("unit")


def _without_leading_symbols(text: str) -> str:
    """ "🥛 牛奶 280ml" → "牛奶 280ml": a few shipped recipes mark lines with an emoji, which
    would otherwise be taken for the name (and shown as a missing glyph)."""
    start = 0
    while start < len(text) and (
        text[start].isspace()
        or text[start] in "\ufe0f\u200d"
        or unicodedata.category(text[start]) in ("So", "Sk")
    ):
        start += 1
    return text[start:]


def ingredient_line_parse(text: str) -> ParsedLine:
    """Name, normalised ingredient and quantity of one line as a recipe writes it."""
    body = _without_leading_symbols(LEADING_MARK.sub("", text or "")).strip()
    quantity_match = QUANTITY.search(body)
    cut = NAME_END.search(body)
    name = body[: cut.start()] if cut else body
    if quantity_match and quantity_match.start() < len(name):
        name = name[: quantity_match.start()]  # "干辣椒两个": the numeral ends the name
    for suffix in NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    quantity: Decimal | None = None
    unit = ""
    if quantity_match:
        quantity, unit = _number(quantity_match)
        unit = unit.lower()
    return ParsedLine(
        text=text,
        name=name,
        ingredient=ingredient_normalise(name),
        quantity=quantity,
        unit=unit,
    )


def amount_in_base(quantity: Decimal, unit: str) -> tuple[str, Decimal]:
    """(dimension, amount): grams, millilitres, or pieces of `unit` (dimension = the unit)."""
    if unit.lower() in UNITS:
        dimension, factor = UNITS[unit.lower()]
        return dimension, quantity * factor
    return unit, quantity
