"""Errors of the room (viewers); the host's are in `live.host.errors`, flash sales' in
`live.flash_sale.errors`."""

from __future__ import annotations

from freshloop.core.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied


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


class MembersOnly(PermissionDenied):
    """A members-only room refused someone who is not a logged-in member (`detail.reason`:
    "login_required" or "not_member"). Hosts and operators are always let in."""

    code = "live_members_only"
    message = "本场为会员专享直播，成为会员后即可观看"


class DeviceLoginRequired(NotAuthenticated):
    """An anonymous caller sent a device id that belongs to an account (a phone, WeChat…):
    the device alone no longer speaks for that person, so it takes their login."""

    code = "live_device_login_required"
    message = "该设备已关联账号，请登录后继续"
