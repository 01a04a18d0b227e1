"""Errors of the host's side of a session."""

from __future__ import annotations

from freshloop.core.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied


class LiveStateInvalid(DomainError):
    code = "live_state_invalid"
    message = "直播当前状态不允许此操作"
    status = 409


class NotSessionHost(PermissionDenied):
    code = "live_not_host"
    message = "只有本场主播或管理员可以操作这场直播"


class CouponNotInSession(InvalidInput):
    code = "live_coupon_not_in_session"
    message = "这张券不是本场直播的直播专享券"


class NoDrawCandidates(Conflict):
    code = "live_draw_no_candidates"
    message = "还没有可参与抽奖的评论观众"


class ProductNotInSession(NotFound):
    code = "live_product_not_in_session"
    message = "该商品不在本场直播的商品列表中"


class ViewerNotInSession(NotFound):
    code = "live_viewer_not_found"
    message = "该观众没有进入过本场直播"
