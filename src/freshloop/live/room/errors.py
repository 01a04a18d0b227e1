"""Errors of the room (viewers); the host's are in `live.host.errors`, flash sales' in
`live.flash_sale.errors`."""

from __future__ import annotations

from freshloop.core.errors import Conflict, InvalidInput, PermissionDenied


class LiveSessionNotLive(Conflict):
    code = "live_not_live"
    message = "直播未开始或已结束"


class ViewerBanned(PermissionDenied):
    code = "viewer_banned"
    message = "你已被移出直播间"


class ViewerMuted(PermissionDenied):
    code = "viewer_muted"
    message = "你已被禁言，暂时不能评论"


class CommentRefused(InvalidInput):
    code = "comment_refused"
    message = "评论未能发送"
