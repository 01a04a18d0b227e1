"""Console pages of the WeCom message budget (SC-3), mounted under /console/intelligence/.

`budget/` is a simulation (模拟): the optimiser on today's predictions, with sample campaigns
over the largest data hub segments and made-up 跟进人 — intelligence cannot see who follows
whom (scrm, above it). The real plans of the smart-send mass messages live in scrm
(/console/scrm/broadcasts/smart/). A OneID typed in the lookup box shows that customer's
plan and the 10:00 baseline explained in Chinese."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET

from freshloop.core import clock
from freshloop.core.errors import DomainError
from freshloop.intelligence.access import MODEL_ROLES, console_access
from freshloop.intelligence.budgeting.selectors import MAX_ONE_ID_CHARS, budget_person_id
from freshloop.intelligence.budgeting.services import (
    SIMULATED_PORTFOLIO,
    SIMULATED_STAFF_DAILY_LIMIT,
    SIMULATION_MAX_CUSTOMERS,
    BudgetSimulation,
    budget_simulation,
)
from freshloop.intelligence.errors import BudgetPersonNotPlanned, BudgetPersonUnknown


def _lookup(simulation: BudgetSimulation, one_id: str) -> dict[str, Any]:
    person_id = budget_person_id(one_id=one_id)
    run = simulation.run
    customer = run.index_of(person_id)
    if customer is None:
        raise BudgetPersonNotPlanned("该客户不在本次模拟的人群中，没有为其安排发送")
    return {
        "context": run.context(customer),
        "plan": run.explain(person_id),
        "baseline": run.explain(person_id, baseline=True),
    }


@require_GET
@console_access(*MODEL_ROLES)
def budget_page(request: HttpRequest) -> HttpResponse:
    one_id = str(request.GET.get("one_id", "")).strip()[: MAX_ONE_ID_CHARS + 1]
    context: dict[str, Any] = {
        "tab": "budget",
        "one_id": one_id,
        "portfolio": SIMULATED_PORTFOLIO,
        "staff_limit": SIMULATED_STAFF_DAILY_LIMIT,
        "max_customers": SIMULATION_MAX_CUSTOMERS,
        "simulation": None,
        "error": "",
        "lookup": None,
        "lookup_error": "",
    }
    try:
        simulation = budget_simulation(now=clock.now())
    except DomainError as error:  # the event store busy, a policy with no sending hour
        context["error"] = error.text
        return render(request, "intelligence/budget.html", context, status=error.status)
    context["simulation"] = simulation
    if simulation is not None:
        context["report"] = simulation.run.summary()
        if one_id:
            try:
                context["lookup"] = _lookup(simulation, one_id)
            except (BudgetPersonUnknown, BudgetPersonNotPlanned) as error:
                context["lookup_error"] = f"{error.text}（OneID：{one_id}）"
    return render(request, "intelligence/budget.html", context)


urlpatterns: list[URLPattern] = [
    path("budget/", budget_page, name="intelligence-budget"),
]
