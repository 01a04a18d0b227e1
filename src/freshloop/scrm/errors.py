from freshloop.core.errors import DomainError, InvalidInput, NotFound


class JourneyInvalid(InvalidInput):
    """A journey or one of its steps cannot run as written (each problem names its field:
    `steps.2.minutes`)."""

    code = "journey_invalid"
    message = "旅程配置不正确"


class JourneyNotFound(NotFound):
    code = "journey_not_found"
    message = "旅程不存在"


class JourneyNotRunnable(DomainError):
    code = "journey_not_runnable"
    message = "旅程还没有发布版本，不能启动"
    status = 409


class JourneyNotDeletable(DomainError):
    """Only a draft or paused journey with nobody still inside can be deleted."""

    code = "journey_not_deletable"
    message = "这个旅程现在不能删除"
    status = 409


class StaffTaskNotFound(NotFound):
    code = "staff_task_not_found"
    message = "任务不存在"


class SandboxContactInvalid(InvalidInput):
    """The 模拟客户添加员工 form: a missing nickname, an unknown staff member, a phone that is
    malformed or belongs to nobody."""

    code = "sandbox_contact_invalid"
    message = "模拟添加好友的信息不正确"


# --- Tags and staff transfer ----------------------------------------------------------------


class ComputedTagInvalid(InvalidInput):
    """A computed tag that cannot be pushed to WeCom, or a value it never takes."""

    code = "computed_tag_invalid"
    message = "计算标签设置不正确"


class ContactTransferInvalid(InvalidInput):
    """A transfer that cannot be asked of WeCom: an unknown or departed takeover staff member,
    the leaver among the takers, customers who are not the leaver's, more than 100 ids."""

    code = "contact_transfer_invalid"
    message = "客户继承的设置不正确"


class ContactTransferUnavailable(DomainError):
    """WeCom refused or could not take the whole transfer request (see detail.errcode)."""

    code = "contact_transfer_unavailable"
    message = "企业微信暂时无法受理客户继承，请稍后再试"
    status = 502


class BroadcastInvalid(InvalidInput):
    """A mass message that cannot be sent as written (each problem names its field: `text`,
    `segment_id`, `scheduled_at`…)."""

    code = "broadcast_invalid"
    message = "群发内容不正确"


class BroadcastNotFound(NotFound):
    code = "broadcast_not_found"
    message = "群发不存在"


class BroadcastNotEditable(DomainError):
    """Only drafts and scheduled mass messages change; one sending, sent or cancelled is
    history."""

    code = "broadcast_not_editable"
    message = "群发已开始发送、已发送或已取消，不能再修改"
    status = 409


class MomentInvalid(InvalidInput):
    code = "moment_invalid"
    message = "朋友圈内容不正确"


class MomentNotFound(NotFound):
    code = "moment_not_found"
    message = "朋友圈任务不存在"


class MomentNotEditable(DomainError):
    code = "moment_not_editable"
    message = "朋友圈已提交企业微信，不能再提交"
    status = 409


class MomentRejected(InvalidInput):
    """WeCom refused the moment (an unknown staff member or tag, content it does not take, the
    API not permitted): fix it and publish again. WeCom's errcode is in the detail."""

    code = "moment_rejected"
    message = "企业微信拒绝了这条朋友圈"


class MomentWecomUnavailable(DomainError):
    """WeCom did not answer (or asked to slow down) after the client's retries."""

    code = "moment_wecom_unavailable"
    message = "企业微信暂时无法访问，朋友圈未提交，请稍后重试"
    status = 503


class SmartSendInvalid(InvalidInput):
    """智能发送 settings that cannot be used (each problem names its field: `smart_days`,
    `smart_value_fen`)."""

    code = "smart_send_invalid"
    message = "智能发送的设置不正确"
