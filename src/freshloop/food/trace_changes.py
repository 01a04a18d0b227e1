"""What changed between two published snapshots of a lot, in sentences a consumer reads on the
page's 修改记录 ("检验报告「菌落总数」结果：合格 → 合格（复检）")."""

from __future__ import annotations

from typing import Any

from freshloop.food.models import TraceMediaKind, TraceRecordKind

ORIGIN_LABELS = {
    "name": "产地名称",
    "address": "产地地址",
    "latitude": "纬度",
    "longitude": "经度",
    "description": "产地简介",
}
RECORD_LABELS = {
    "kind": "类型",
    "occurred_on": "日期",
    "title": "标题",
    "inspector": "检验/记录人",
    "result": "结果",
}
_LONG = {"description"}
"""Fields too long to quote: the line says that they changed, not from what to what."""


def _kind(kind: str) -> str:
    try:
        return str(TraceRecordKind(kind).label)
    except ValueError:
        return kind


def _media_kind(kind: str) -> str:
    try:
        return str(TraceMediaKind(kind).label)
    except ValueError:
        return kind


def _record_label(record: dict[str, Any]) -> str:
    return f"{_kind(record['kind'])}「{record['title']}」"


def _origin_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    if old is None and new is None:
        return []
    if old is None:
        return [f"设置产地：{new['name']}"] if new else []
    if new is None:
        return [f"移除产地：{old['name']}"]
    lines = []
    for key, label in ORIGIN_LABELS.items():
        if old.get(key) != new.get(key):
            if key in _LONG:
                lines.append(f"{label}已修改")
            else:
                lines.append(f"{label}：{old.get(key) or '（空）'} → {new.get(key) or '（空）'}")
    return lines


def _record_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    before = {record["id"]: record for record in old}
    after = {record["id"]: record for record in new}
    lines = []
    for record_id, record in after.items():
        if record_id not in before:
            lines.append(f"新增{_record_label(record)}（{record['occurred_on']}）")
            continue
        was = before[record_id]
        for key, label in RECORD_LABELS.items():
            if was.get(key) != record.get(key):
                old_value = _kind(was[key]) if key == "kind" else was.get(key)
                new_value = _kind(record[key]) if key == "kind" else record.get(key)
                lines.append(
                    f"修改{_record_label(record)}{label}：{old_value or '（空）'} → "
                    f"{new_value or '（空）'}"
                )
    for record_id, record in before.items():
        if record_id not in after:
            lines.append(f"删除{_record_label(record)}")
    return lines


def _media_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    before = {media["id"]: media for media in old}
    after = {media["id"]: media for media in new}
    lines = []
    for media_id, media in after.items():
        label = f"{_media_kind(media['kind'])}「{media['caption'] or '未命名'}」"
        if media_id not in before:
            lines.append(f"新增{label}")
        elif before[media_id].get("caption") != media.get("caption"):
            lines.append(f"修改{_media_kind(media['kind'])}说明：{before[media_id]['caption']} → ")
            lines[-1] += media["caption"] or "（空）"
    for media_id, media in before.items():
        if media_id not in after:
            lines.append(f"删除{_media_kind(media['kind'])}「{media['caption'] or '未命名'}」")
    if not lines and [m["id"] for m in old] != [m["id"] for m in new]:
        lines.append("调整了影像顺序")
    return lines


def snapshot_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """The lines of the 修改记录 from `old` to `new` (["首次发布"] for the first version)."""
    if old is None:
        return ["首次发布"]
    lines = _origin_changes(old.get("origin"), new.get("origin"))
    lines += _record_changes(old.get("records", []), new.get("records", []))
    lines += _media_changes(old.get("media", []), new.get("media", []))
    return lines or ["内容更新"]
