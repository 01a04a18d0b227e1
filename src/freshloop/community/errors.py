"""Typed errors of community operations (code, Chinese message, HTTP status), one block per
feature."""

from __future__ import annotations

from freshloop.core.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    MalformedRequest,
    NotFound,
    PermissionDenied,
)


class CommunityInvalid(InvalidInput):
    """A 活码, welcome template, topic or challenge that cannot work as written; `detail` lists
    each wrong field as `{"field": ..., "message": ...}`."""

    code = "community_invalid"
    message = "社群配置不正确"


class GroupNotFound(NotFound):
    code = "group_not_found"
    message = "客户群不存在"


class JoinCodeNotFound(NotFound):
    code = "join_code_not_found"
    message = "群活码不存在"


class WelcomeTemplateNotFound(NotFound):
    code = "welcome_template_not_found"
    message = "入群欢迎语不存在"


class ChallengeNotFound(NotFound):
    code = "challenge_not_found"
    message = "社群挑战不存在"


class TopicNotFound(NotFound):
    code = "topic_not_found"
    message = "群话题不存在"


class InboundDisabled(PermissionDenied):
    """No shared secret is configured: the inbound API is switched off, not open to anyone."""

    code = "community_inbound_disabled"
    message = "群消息接入未启用（未配置签名密钥）"


class InboundSignatureInvalid(DomainError):
    code = "community_inbound_signature_invalid"
    message = "群消息签名不正确"
    status = 401


class InboundTimestampInvalid(DomainError):
    """The timestamp header is missing, not a number, or outside the clock-skew window (a
    replayed old request is refused here even when its signature is right)."""

    code = "community_inbound_timestamp_invalid"
    message = "群消息时间戳缺失或超出允许的时间窗口"
    status = 401


class InboundMalformed(MalformedRequest):
    """Not JSON, or fields of the wrong type; `detail` lists each wrong field."""

    code = "community_inbound_malformed"
    message = "群消息格式不正确"


class InboundTooLarge(DomainError):
    code = "community_inbound_too_large"
    message = "群消息请求过大"
    status = 413


class RuleInvalid(InvalidInput):
    """A keyword rule that cannot run as written; `detail` names each wrong field."""

    code = "community_rule_invalid"
    message = "关键词规则不正确"


class RuleNotFound(NotFound):
    code = "community_rule_not_found"
    message = "关键词规则不存在"


class ReplyNotFound(NotFound):
    code = "community_reply_not_found"
    message = "待发送的回复不存在"


class ReplyNotPending(Conflict):
    code = "community_reply_not_pending"
    message = "这条回复已发送或已过期"


class ChatIdInvalid(InvalidInput):
    code = "community_chat_id_invalid"
    message = "群ID不正确"


class DrawInvalid(InvalidInput):
    code = "community_draw_invalid"
    message = "抽奖设置不正确"


class DrawNoCandidates(Conflict):
    code = "community_draw_no_candidates"
    message = "这个时间窗口内没有可参与抽奖的群成员"


class DrawNotFound(NotFound):
    code = "community_draw_not_found"
    message = "抽奖不存在"


class SidebarNotConfigured(Conflict):
    code = "community_sidebar_not_configured"
    message = "未配置聊天工具栏应用（AgentId / Secret），请用复制发送"


class WecomTicketFailed(DomainError):
    code = "community_wecom_ticket_failed"
    message = "获取企业微信 JS-SDK 票据失败，请稍后重试"
    status = 502
