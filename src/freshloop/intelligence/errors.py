"""Typed errors of the intelligence module: a machine code, a Chinese message, an HTTP status."""

from __future__ import annotations

from freshloop.core.errors import Conflict, InvalidInput, NotFound


class TooLittleData(Conflict):
    """Not enough history to train or evaluate a model honestly; `detail` says which window
    fell short and by how much. The previous version (if any) keeps scoring."""

    code = "intelligence_too_little_data"
    message = "数据太少，暂时无法训练该模型：需要更长的历史或更多有行为的客户"


class ModelNotFound(NotFound):
    code = "intelligence_model_not_found"
    message = "模型不存在"


class NoPreviousVersion(Conflict):
    """Rollback asked for a model kind with no earlier version kept."""

    code = "intelligence_no_previous_version"
    message = "没有可回退的上一个版本"


class ModelKindInvalid(InvalidInput):
    code = "intelligence_model_kind_invalid"
    message = "未知的模型类型"
