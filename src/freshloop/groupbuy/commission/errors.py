"""Typed errors of commission, attribution and pickup (GB-2)."""

from __future__ import annotations

from freshloop.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied


class CommissionInputInvalid(InvalidInput):
    """Field problems in `detail` as `[{"field", "message"}]`."""

    code = "commission_input_invalid"
    message = "提交的佣金信息有误，请检查后重试"


class PickupCodeUnknown(NotFound):
    """An unknown code and another leader's code answer alike: codes cannot be probed."""

    code = "pickup_code_unknown"
    message = "提货码无效，请核对后重试"


class PickupAlreadyDone(Conflict):
    code = "pickup_already_done"
    message = "该订单已提货，请勿重复核销"


class PickupOrderClosed(Conflict):
    code = "pickup_order_closed"
    message = "该订单已取消或已退款，不能提货"


class CommissionRuleNotFound(NotFound):
    code = "commission_rule_not_found"
    message = "佣金规则不存在"


class SettlementRunNotFound(NotFound):
    code = "settlement_run_not_found"
    message = "结算批次不存在"


class StatementNotFound(NotFound):
    """Also what a leader gets for another leader's statement number."""

    code = "statement_not_found"
    message = "结算单不存在"


class SettlementStateInvalid(Conflict):
    code = "settlement_state_invalid"
    message = "结算批次当前状态不允许此操作"


class SettlementRunOpen(Conflict):
    code = "settlement_run_open"
    message = "已有待审核的结算批次，请先审核或作废"


class SettlementSelfApproval(PermissionDenied):
    """Four eyes: the operator who created a run cannot approve it."""

    code = "settlement_self_approval"
    message = "结算批次须由创建人以外的运营人员审核"
