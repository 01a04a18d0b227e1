from freshloop.core.errors import DomainError


class InsufficientPoints(DomainError):
    code = "insufficient_points"
    message = "积分余额不足"
    status = 422


class InvalidPointsRequest(DomainError):
    code = "invalid_points_request"
    message = "积分操作参数不正确"
    status = 422


class PointsRefConflict(DomainError):
    code = "points_ref_conflict"
    message = "该订单已使用过不同数量的积分"
    status = 409


class MemberNotFound(DomainError):
    code = "member_not_found"
    message = "用户不存在"
    status = 404


class InvalidMemberLevel(DomainError):
    code = "invalid_member_level"
    message = "会员等级设置不正确"
    status = 422
