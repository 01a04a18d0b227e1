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


class ForecastSessionNotFound(NotFound):
    """No live session has that code (the demand forecast pages, DH-8)."""

    code = "intelligence_forecast_session_not_found"
    message = "直播场次不存在"


class BudgetProblemInvalid(InvalidInput):
    """A message budget that cannot be planned as given (the optimiser's own Chinese sentence
    says which input: a campaign window outside the period, a negative value…)."""

    code = "intelligence_budget_invalid"
    message = "群发预算的输入不正确"


class BudgetPersonUnknown(NotFound):
    """The OneID looked up in a budget plan belongs to nobody."""

    code = "intelligence_budget_person_unknown"
    message = "找不到这个 OneID 对应的客户，请检查后重新输入"


class BudgetPersonNotPlanned(NotFound):
    """The customer exists but is in none of the planned audiences (or has no 跟进人)."""

    code = "intelligence_budget_person_not_planned"
    message = "该客户不在本期任何群发的人群中，没有为其安排发送"
