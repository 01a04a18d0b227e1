"""The sandbox's tag administration (add_corp_tag / del_corp_tag) and customer transfers
(在职继承 transfer_customer, 离职继承 resigned/transfer_customer, their transfer_result and
get_unassigned_list), checked as WeCom checks them.

A transfer waits (status 2 等待接替) until WeCom's 24 hours have passed on the clock — then it
is taken over (1) and the customer moves to the takeover staff member with their tags — or
until a test or the demo settles it with `sandbox_transfer_settle` (1 taken over, 3 the customer
refused, 4 the taker has too many customers). The sandbox answers 40058 (invalid parameter)
where WeCom's documents name no errcode (the same staff member on both sides, a 离职继承 of a
staff member still in service).
"""

from __future__ import annotations

import secrets
from typing import Any

from freshloop.core import clock
from freshloop.messaging.wecom.sandbox_store import directory, refuse, save
from freshloop.messaging.wecom.types import (
    TRANSFER_MAX_CUSTOMERS,
    TRANSFER_SUCCESS_MSG_MAX,
    WecomTag,
    WecomTagGroup,
    WecomTransferCustomer,
    WecomTransferResultPage,
    WecomTransferStatus,
    WecomUnassigned,
    WecomUnassignedPage,
)

TAKEOVER_SECONDS = 24 * 3600  # WeCom hands the customer over 24 hours after the request
MAX_TAG_NAME = 30  # add_corp_tag: a tag name is at most 30 characters
TAKEN_OVER, WAITING, REFUSED, TAKER_FULL = 1, 2, 3, 4  # transfer_result statuses


def sandbox_staff_resign(*, userid: str) -> None:
    """The staff member leaves the sandbox corp: their customers wait for 离职继承."""
    found = directory()
    if userid not in found["staff"]:
        refuse(40003, f"invalid userid {userid[:64]}")
    found["resigned"] = sorted({*found.get("resigned", []), userid})
    save(found)


def _move(found: dict[str, Any], handover: str, takeover: str, external_userid: str) -> None:
    follows = dict(found["follows"])
    old = follows.pop(f"{handover}|{external_userid}", None)
    if old is not None:
        follows[f"{takeover}|{external_userid}"] = {**old, "at": int(clock.now().timestamp())}
    found["follows"] = follows


def sandbox_transfer_settle(*, external_userid: str, status: int) -> None:
    """Decide a waiting transfer now: 1 taken over, 3 the customer refused, 4 the taker is
    full. WeCom decides by itself; the sandbox lets a test or the demo play the customer."""
    if status not in (TAKEN_OVER, REFUSED, TAKER_FULL):
        refuse(40058, "status must be 1, 3 or 4")
    found = directory()
    transfer = found.get("transfers", {}).get(external_userid)
    if transfer is None or transfer["status"] != WAITING:
        refuse(40058, f"no waiting transfer for {external_userid[:64]}")
    if status == TAKEN_OVER:
        _move(found, transfer["handover"], transfer["takeover"], external_userid)
    found["transfers"] = {**found["transfers"], external_userid: {**transfer, "status": status}}
    save(found)


def _settle_due(found: dict[str, Any]) -> bool:
    """Transfers whose 24 hours are over are taken over (as WeCom does)."""
    now = int(clock.now().timestamp())
    changed = False
    transfers = dict(found.get("transfers", {}))
    for external_userid, transfer in transfers.items():
        if transfer["status"] == WAITING and now >= transfer["at"] + TAKEOVER_SECONDS:
            _move(found, transfer["handover"], transfer["takeover"], external_userid)
            transfers[external_userid] = {**transfer, "status": TAKEN_OVER, "done": now}
            changed = True
    found["transfers"] = transfers
    return changed


class SandboxAdminMixin:
    """Tag administration and customer transfer for `SandboxWecomClient`."""

    def follow_user_list(self) -> list[str]:
        found = directory()
        resigned_staff = set(found.get("resigned", []))
        return [userid for userid in found["staff"] if userid not in resigned_staff]

    # --- tags ------------------------------------------------------------------------------

    def add_corp_tag(
        self, *, group_name: str, tag_names: list[str], group_id: str = ""
    ) -> WecomTagGroup:
        found = directory()
        if not tag_names:
            refuse(40058, "tag can not be empty")
        for name in tag_names:
            if not name.strip() or len(name) > MAX_TAG_NAME:
                refuse(40058, f"tag name must be 1 to {MAX_TAG_NAME} characters")
        groups = [dict(group) for group in found["tag_groups"]]
        if group_id:
            matches = [group for group in groups if group["group_id"] == group_id]
            if not matches:
                refuse(40068, f"invalid group_id {group_id[:64]}")
        else:
            if not group_name.strip() or len(group_name) > MAX_TAG_NAME:
                refuse(40058, f"group_name must be 1 to {MAX_TAG_NAME} characters")
            matches = [group for group in groups if group["name"] == group_name]
            if not matches:
                matches = [
                    {
                        "group_id": f"etg_sandbox_{secrets.token_hex(4)}",
                        "name": group_name,
                        "tags": [],
                    }
                ]
                groups.append(matches[0])
        group = matches[0]
        existing = {name for _, name in group["tags"]}
        clash = [name for name in tag_names if name in existing]
        if clash:
            refuse(40071, f"tag name {clash[0][:32]} exists")
        created = [[f"et_sandbox_{secrets.token_hex(6)}", name] for name in tag_names]
        group["tags"] = [*group["tags"], *created]
        found["tag_groups"] = groups
        save(found)
        return WecomTagGroup(
            group_id=group["group_id"],
            name=group["name"],
            tags=tuple(
                WecomTag(
                    tag_id=tag_id, name=name, group_id=group["group_id"], group_name=group["name"]
                )
                for tag_id, name in created
            ),
        )

    def del_corp_tag(
        self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None
    ) -> None:
        found = directory()
        if not tag_ids and not group_ids:
            refuse(40058, "tag_id and group_id can not be both empty")
        known_tags = {tag_id for group in found["tag_groups"] for tag_id, _ in group["tags"]}
        known_groups = {group["group_id"] for group in found["tag_groups"]}
        for tag_id in tag_ids or []:
            if tag_id not in known_tags:
                refuse(40068, f"invalid tagid {tag_id[:64]}")
        for group_id in group_ids or []:
            if group_id not in known_groups:
                refuse(40068, f"invalid group_id {group_id[:64]}")
        gone = set(tag_ids or [])
        groups = []
        for group in found["tag_groups"]:
            if group["group_id"] in (group_ids or []):
                gone |= {tag_id for tag_id, _ in group["tags"]}
                continue
            kept = [tag for tag in group["tags"] if tag[0] not in gone]
            if kept:  # WeCom drops a group whose last tag is deleted
                groups.append({**group, "tags": kept})
        found["tag_groups"] = groups
        found["follows"] = {
            key: {**follow, "tags": [tag for tag in follow["tags"] if tag not in gone]}
            for key, follow in found["follows"].items()
        }
        save(found)

    # --- transfers ---------------------------------------------------------------------------

    def transfer_customer(
        self,
        *,
        handover_userid: str,
        takeover_userid: str,
        external_userids: list[str],
        transfer_success_msg: str = "",
        resigned: bool = False,
    ) -> tuple[WecomTransferCustomer, ...]:
        found = directory()
        resigned_staff = set(found.get("resigned", []))
        if handover_userid not in found["staff"]:
            refuse(40003, f"invalid userid {handover_userid[:64]}")
        if takeover_userid not in found["staff"] or takeover_userid in resigned_staff:
            refuse(40003, f"invalid userid {takeover_userid[:64]}")
        if handover_userid == takeover_userid:
            refuse(40058, "handover_userid and takeover_userid are the same")
        if resigned != (handover_userid in resigned_staff):
            refuse(40058, "handover_userid is " + ("in service" if resigned else "resigned"))
        if not external_userids or len(external_userids) > TRANSFER_MAX_CUSTOMERS:
            refuse(40058, f"external_userid must hold 1 to {TRANSFER_MAX_CUSTOMERS} ids")
        if len(transfer_success_msg) > TRANSFER_SUCCESS_MSG_MAX:
            refuse(40058, f"transfer_success_msg exceeds {TRANSFER_SUCCESS_MSG_MAX} characters")
        now = int(clock.now().timestamp())
        transfers = dict(found.get("transfers", {}))
        answer = []
        for external_userid in external_userids:
            if f"{handover_userid}|{external_userid}" not in found["follows"]:
                answer.append(WecomTransferCustomer(external_userid=external_userid, errcode=84061))
                continue
            transfers[external_userid] = {
                "handover": handover_userid,
                "takeover": takeover_userid,
                "status": WAITING,
                "at": now,
                "resigned": resigned,
            }
            answer.append(WecomTransferCustomer(external_userid=external_userid, errcode=0))
        found["transfers"] = transfers
        save(found)
        return tuple(answer)

    def transfer_result(
        self,
        *,
        handover_userid: str,
        takeover_userid: str,
        cursor: str = "",
        resigned: bool = False,
    ) -> WecomTransferResultPage:
        found = directory()
        if _settle_due(found):
            save(found)
        rows = [
            WecomTransferStatus(
                external_userid=external_userid,
                status=transfer["status"],
                takeover_time=transfer.get("done", 0) if transfer["status"] == TAKEN_OVER else 0,
            )
            for external_userid, transfer in sorted(found.get("transfers", {}).items())
            if transfer["handover"] == handover_userid
            and transfer["takeover"] == takeover_userid
            and transfer["resigned"] == resigned
        ]
        start = int(cursor) if cursor.isdigit() else 0
        size = 1000
        more = start + size < len(rows)
        return WecomTransferResultPage(
            customers=tuple(rows[start : start + size]),
            next_cursor=str(start + size) if more else "",
        )

    def unassigned_list(self, *, cursor: str = "", page_size: int = 1000) -> WecomUnassignedPage:
        found = directory()
        resigned_staff = set(found.get("resigned", []))
        waiting = {
            external_userid
            for external_userid, transfer in found.get("transfers", {}).items()
            if transfer["status"] == WAITING
        }
        items = [
            WecomUnassigned(handover_userid=staff, external_userid=customer)
            for staff, _, customer in (key.partition("|") for key in sorted(found["follows"]))
            if staff in resigned_staff and customer not in waiting
        ]
        start = int(cursor) if cursor.isdigit() else 0
        size = max(1, min(page_size, 1000))
        more = start + size < len(items)
        return WecomUnassignedPage(
            items=tuple(items[start : start + size]),
            is_last=not more,
            next_cursor=str(start + size) if more else "",
        )
