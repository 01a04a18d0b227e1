"""Typed errors of group deals 拼团 (GB-3): a machine code, a Chinese message, an HTTP status."""

from __future__ import annotations

from freshloop.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied


class DealInputInvalid(InvalidInput):
    """Field problems in `detail` as `[{"field", "message"}]`, the shape of a 422."""

    code = "deal_input_invalid"
    message = "拼团活动设置有误，请检查后重试"


class DealNotFound(NotFound):
    code = "deal_not_found"
    message = "拼团活动不存在"


class GroupNotFound(NotFound):
    code = "group_not_found"
    message = "该团不存在"


class DealNotOpen(Conflict):
    """Before its start, after its end, or ended by an operator: no new groups."""

    code = "deal_not_open"
    message = "拼团活动未开始或已结束"


class DealSoldOut(Conflict):
    code = "deal_sold_out"
    message = "拼团商品已抢光"


class GroupClosed(Conflict):
    """Full, past its time limit, or already closed: join another group or start one."""

    code = "group_closed"
    message = "该团已满或已结束，请参加其他团或自己开团"


class DealLimitExceeded(Conflict):
    code = "deal_limit_exceeded"
    message = "超出每人限购数量"


class AlreadyInDeal(Conflict):
    """One place per person per deal at a time; `detail.group_no` says where they are."""

    code = "already_in_deal"
    message = "您已参加该拼团活动"


class LeaderOnlyDeal(PermissionDenied):
    code = "deal_leader_only"
    message = "该活动只能由团长开团，请通过团长分享的团参加"
