"""Writes of community operations. Each area lives in its own file (groups, join_codes,
topics, challenges); this face re-exports them for other modules and the API.
One block per feature; each feature's own file holds the code."""

from __future__ import annotations

from freshloop.community.assistant import (
    cooldown_claim,
    message_handle,
    messages_handle,
    messages_sweep,
    replies_expire,
    reply_mark_sent,
    reply_prepare,
    reply_robot_send,
    rule_create,
    rule_update,
)
from freshloop.community.challenges import (
    ChallengeProgress,
    challenge_check,
    challenge_create,
    challenge_progress,
    challenges_check_all,
    challenges_check_for_person,
)
from freshloop.community.checkin import checkin_do
from freshloop.community.draws import group_draw_run
from freshloop.community.groups import (
    SyncResult,
    group_apply,
    group_change_apply,
    group_dismiss,
    groups_sync_full,
)
from freshloop.community.inbound import group_messages_store, inbound_parse, inbound_verify
from freshloop.community.join_codes import (
    JoinCodeGroupSpec,
    join_code_create,
    join_code_current,
    join_code_group_append,
    join_code_scan,
)
from freshloop.community.topics import (
    WelcomeSpec,
    group_welcome_set,
    topic_create,
    topic_results_check,
    topic_send,
    topic_stop,
    topics_run_due,
    welcome_template_create,
)

__all__ = [
    "ChallengeProgress",
    "JoinCodeGroupSpec",
    "SyncResult",
    "WelcomeSpec",
    "challenge_check",
    "challenge_create",
    "challenge_progress",
    "challenges_check_all",
    "challenges_check_for_person",
    "group_apply",
    "group_change_apply",
    "group_dismiss",
    "group_welcome_set",
    "groups_sync_full",
    "join_code_create",
    "join_code_current",
    "join_code_group_append",
    "join_code_scan",
    "topic_create",
    "topic_results_check",
    "topic_send",
    "topic_stop",
    "topics_run_due",
    "welcome_template_create",
]


__all__ = [
    "checkin_do",
    "cooldown_claim",
    "group_draw_run",
    "group_messages_store",
    "inbound_parse",
    "inbound_verify",
    "message_handle",
    "messages_handle",
    "messages_sweep",
    "replies_expire",
    "reply_mark_sent",
    "reply_prepare",
    "reply_robot_send",
    "rule_create",
    "rule_update",
]
