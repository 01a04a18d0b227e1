"""The model registry pages (DH-7), mounted at /console/intelligence/.

`/` lists every model kind with the version scoring now, the one kept for rollback and the last
training attempt (with its reason when there was too little data), the current scores'
spread, and buttons to retrain and to roll a kind back one version (both queued as jobs: a
million people take minutes). `/models/<kind>/<version>` shows one version's held-out metrics and
curves: ROC, precision–recall, reliability and feature importance.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from freshloop.core.audit import Actor
from freshloop.intelligence import selectors
from freshloop.intelligence.access import MODEL_ROLES, console_access
from freshloop.intelligence.errors import ModelNotFound, NoPreviousVersion
from freshloop.intelligence.models import ModelKind
from freshloop.intelligence.services import ALL_KINDS
from freshloop.intelligence.tasks import retrain, rollback

HOME = "/console/intelligence/"


@require_GET
@console_access(*MODEL_ROLES)
def models_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "intelligence/models.html",
        {
            "tab": "models",
            "kinds": selectors.models_overview(),
            "runs": selectors.training_runs_recent(),
            "charts": selectors.score_distribution_charts(),
        },
    )


@require_GET
@console_access(*MODEL_ROLES)
def model_page(request: HttpRequest, kind: str, version: int) -> HttpResponse:
    try:
        shown = selectors.model_version_get(kind=kind, version=version)
    except ModelNotFound as error:
        raise Http404(error.text) from error
    if kind in (ModelKind.CHURN, ModelKind.PROPENSITY):
        charts = selectors.classifier_charts(shown)
    elif kind == ModelKind.CONTACT_HOUR:
        charts = selectors.contact_hour_charts(shown)
    else:
        charts = {}
    return render(
        request,
        "intelligence/model.html",
        {
            "tab": "models",
            "version": shown,
            "metrics": selectors.metrics_readable(shown),
            "features": selectors.features_readable(shown),
            "headline": selectors.headline(kind, shown),
            "charts": charts,
            "parameters": shown.curves.get("parameters", {}),
            "versions": selectors.model_versions_of_kind(kind=kind),
        },
    )


@require_POST
@console_access(*MODEL_ROLES)
def models_retrain_request(request: HttpRequest) -> HttpResponse:
    asked = request.POST.getlist("kind") or list(ALL_KINDS)
    kinds = [kind for kind in asked if kind in ALL_KINDS]
    if not kinds:
        messages.error(request, "请选择要训练的模型")
        return HttpResponseRedirect(HOME)
    retrain(kinds, Actor.for_user(request.user).label)
    messages.success(request, "已提交训练任务：完成后刷新本页查看新版本和训练记录。")
    return HttpResponseRedirect(HOME)


@require_POST
@console_access(*MODEL_ROLES)
def model_rollback_request(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in ALL_KINDS:
        raise Http404("模型不存在")
    previous = selectors.previous_version(kind=kind)
    if previous is None:
        messages.error(request, NoPreviousVersion.message)
        return HttpResponseRedirect(HOME)
    rollback(kind, Actor.for_user(request.user).label)
    messages.success(
        request,
        f"已提交回退到 {previous}：所有人的预测将按该版本重新计算，完成后本页显示它为使用中。",
    )
    return HttpResponseRedirect(HOME)
