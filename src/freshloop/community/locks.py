"""Row locks of community operations, always in primary-key order."""

from __future__ import annotations

from freshloop.community.models import CustomerGroup, GroupChallenge


def group_lock(*, chat_id: str) -> CustomerGroup | None:
    """The group row, locked: member changes of one group apply one at a time."""
    return CustomerGroup.objects.select_for_update().filter(chat_id=chat_id).first()


def challenge_lock(*, challenge_id: int) -> GroupChallenge:
    """The challenge row, locked: its reward is decided and issued once."""
    return GroupChallenge.objects.select_for_update().get(pk=challenge_id)
