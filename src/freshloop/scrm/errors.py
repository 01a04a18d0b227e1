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


class StaffTaskNotFound(NotFound):
    code = "staff_task_not_found"
    message = "任务不存在"


class SandboxContactInvalid(InvalidInput):
    """The 模拟客户添加员工 form: a missing nickname, an unknown staff member, a phone that is
    malformed or belongs to nobody."""

    code = "sandbox_contact_invalid"
    message = "模拟添加好友的信息不正确"
