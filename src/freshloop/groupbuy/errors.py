"""Typed errors of community group buying (SPEC GB-1…GB-4): a machine code, a Chinese message,
an HTTP status."""

from __future__ import annotations

from freshloop.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied

# --- group leaders (GB-1) ---


class GroupbuyInputInvalid(InvalidInput):
    """Field problems in `detail` as `[{"field", "message"}]` (core `InvalidInput.for_fields`),
    the shape a 422 `validation_error` has, so a form shows each next to its input."""

    code = "groupbuy_input_invalid"
    message = "提交的团长信息有误，请检查后重试"


class LeaderNotFound(NotFound):
    code = "leader_not_found"
    message = "团长不存在"


class LeaderStateInvalid(Conflict):
    code = "leader_state_invalid"
    message = "团长当前状态不允许此操作"


class LeaderAlreadyApplied(Conflict):
    code = "leader_already_applied"
    message = "您已提交过团长申请，请勿重复申请"


class IdNumberTaken(Conflict):
    """One resident ID runs at most one leadership (pending, active or suspended)."""

    code = "leader_id_number_taken"
    message = "该身份证号已用于其他团长申请"


class NotAnActiveLeader(PermissionDenied):
    code = "not_an_active_leader"
    message = "您还不是营业中的团长，无法查看团长数据"


class InviteCodeInvalid(NotFound):
    """An unknown code and the code of a leader who is not open for business answer alike:
    the API cannot be used to probe which codes exist."""

    code = "invite_code_invalid"
    message = "邀请码无效，或该团长暂停营业"


class AttachToSelfRefused(Conflict):
    code = "attach_to_self_refused"
    message = "不能绑定自己的团长邀请码"


class AttachmentLocked(Conflict):
    """Within the attribution window a customer keeps their leader; `detail.until` says when
    another leader's code will switch them."""

    code = "attachment_locked"
    message = "您已绑定其他团长，归属期内不能更换"
