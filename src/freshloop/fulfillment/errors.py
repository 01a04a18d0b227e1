"""Typed errors of fulfillment (code, Chinese message, HTTP status), one block per feature."""

from __future__ import annotations

from freshloop.core.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)


class ShipmentNotFound(NotFound):
    code = "shipment_not_found"
    message = "包裹不存在"


class AllocationNotFound(NotFound):
    code = "allocation_not_found"
    message = "该订单还没有分仓决策"


class FulfillmentInvalid(InvalidInput):
    """Fulfillment settings that cannot work as written; `detail` lists each wrong field as
    `{"field": ..., "message": ...}`."""

    code = "fulfillment_invalid"
    message = "履约配置不正确"


class ShipmentStateInvalid(Conflict):
    code = "shipment_state_invalid"
    message = "包裹当前状态不允许这个操作"


# --- automated after-sales, recalls, integration ------------------------------------------


class AfterSalesRuleInvalid(InvalidInput):
    """A rule that cannot work as written; `detail` lists `{"field", "message"}` per problem."""

    code = "aftersales_rule_invalid"
    message = "售后规则设置不正确"


class AfterSalesRuleNotFound(NotFound):
    code = "aftersales_rule_not_found"
    message = "售后规则不存在"


class DecisionNotFound(NotFound):
    code = "aftersales_decision_not_found"
    message = "自动决策不存在"


class DecisionNotPending(Conflict):
    code = "aftersales_decision_not_pending"
    message = "该决策不在待审批状态"


class RecallInvalid(InvalidInput):
    code = "recall_invalid"
    message = "召回信息不正确"


class RecallNotFound(NotFound):
    code = "recall_not_found"
    message = "召回记录不存在"


class RecallExists(Conflict):
    code = "recall_exists"
    message = "该批次已经召回"


class WebhookEndpointInvalid(InvalidInput):
    code = "webhook_endpoint_invalid"
    message = "Webhook 订阅设置不正确"


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    message = "Webhook 订阅不存在"


class ImportRejected(InvalidInput):
    """An import with row errors: nothing was applied; `detail.errors` lists
    `{"row", "field", "message"}` per problem."""

    code = "import_rejected"
    message = "导入数据有误，未做任何修改"


class ImportMalformed(InvalidInput):
    code = "import_malformed"
    message = "导入文件格式不正确"


# --- shipments & tracking ---------------------------------------------------------------------


class CarrierNotFound(NotFound):
    code = "carrier_not_found"
    message = "承运商不存在"


class PushSignatureInvalid(PermissionDenied):
    """A carrier push whose signature does not match (or is missing, or too old): nothing of
    it is written."""

    code = "push_signature_invalid"
    message = "推送签名校验失败"


class PushMalformed(InvalidInput):
    code = "push_malformed"
    message = "推送内容格式不正确"


class CarrierUnavailable(Conflict):
    code = "carrier_unavailable"
    message = "承运商接口暂不可用，请稍后重试"


# --- cold-chain telemetry ---------------------------------------------------------------------


class DeviceKeyInvalid(NotAuthenticated):
    code = "device_key_invalid"
    message = "设备密钥无效"


class DeviceInactive(PermissionDenied):
    code = "device_inactive"
    message = "设备已停用"


class ReadingsInvalid(InvalidInput):
    """A readings batch that cannot be stored as sent; `detail` lists the wrong readings."""

    code = "readings_invalid"
    message = "温度读数不正确"


# --- allocation (issue 16, FF-1) ----------------------------------------------------------------


class AllocationStateInvalid(Conflict):
    code = "allocation_state_invalid"
    message = "只有分仓失败的订单可以重新分仓"
