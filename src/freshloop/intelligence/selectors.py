"""The reads of the intelligence module: the model registry and its training runs, and the
ECharts options the model pages draw (built here so the page's numbers are the registry's)."""

from __future__ import annotations

import dataclasses
from typing import Any

from freshloop.core.errors import DomainError
from freshloop.datahub.predictions.selectors import hour_histogram, prediction_histogram
from freshloop.intelligence.errors import ModelNotFound
from freshloop.intelligence.features import FEATURE_LABELS
from freshloop.intelligence.models import ModelKind, ModelVersion, TrainingRun, VersionStatus

RECENT_RUNS = 20

# What each kind's headline figures are, in the order the cards show them.
HEADLINE_METRICS: dict[str, list[tuple[str, str]]] = {
    ModelKind.CHURN: [
        ("auc", "AUC"),
        ("pr_auc", "PR-AUC"),
        ("brier", "Brier"),
        ("base_rate", "流失率"),
    ],
    ModelKind.PROPENSITY: [
        ("auc", "AUC"),
        ("pr_auc", "PR-AUC"),
        ("brier", "Brier"),
        ("base_rate", "购买率"),
    ],
    ModelKind.CLV: [
        ("spearman", "排序相关"),
        ("mae_orders", "人均订单误差"),
        ("predicted_orders", "预测订单"),
        ("actual_orders", "实际订单"),
    ],
    ModelKind.CONTACT_HOUR: [
        ("hit_rate", "个人时段命中率"),
        ("population_hit_rate", "统一时段命中率"),
        ("people_with_responses", "有响应的人"),
    ],
}


METRIC_LABELS: dict[str, str] = {
    "auc": "ROC AUC",
    "pr_auc": "PR-AUC（平均精确率）",
    "brier": "Brier 分数（越小越好）",
    "base_rate": "评估窗口实际发生比例",
    "lift_top_decile": "前 10% 提升度",
    "people": "评估人数",
    "positives": "评估窗口发生人数",
    "train_people": "训练人数",
    "train_positives": "训练窗口发生人数",
    "window_days": "评估窗口(天)",
    "predicted_orders": "预测订单数",
    "actual_orders": "实际订单数",
    "mae_orders": "人均订单数绝对误差",
    "spearman": "预测与实际的排序相关",
    "responses": "评估窗口响应次数",
    "hit_rate": "个人最佳时段 ±1 小时命中率",
    "population_hit_rate": "统一时段 ±1 小时命中率",
    "population_best_hour": "全体最佳时段(点)",
    "people_with_responses": "有响应的人",
}


def metrics_readable(version: ModelVersion) -> list[tuple[str, Any]]:
    """Every scalar metric of a version with its Chinese name, known ones first."""
    scalars = {k: v for k, v in version.metrics.items() if not isinstance(v, (list, dict))}
    known = [(METRIC_LABELS[key], scalars[key]) for key in METRIC_LABELS if key in scalars]
    rest = [(key, value) for key, value in sorted(scalars.items()) if key not in METRIC_LABELS]
    return known + rest


def features_readable(version: ModelVersion) -> list[str]:
    return [FEATURE_LABELS.get(name, name) for name in version.features]


@dataclasses.dataclass(frozen=True)
class KindSummary:
    kind: str
    label: str
    active: ModelVersion | None
    previous: ModelVersion | None
    last_run: TrainingRun | None
    headline: list[tuple[str, Any]]  # (label, value) of the active version


def headline(kind: str, version: ModelVersion | None) -> list[tuple[str, Any]]:
    if version is None:
        return []
    return [
        (label, version.metrics.get(key))
        for key, label in HEADLINE_METRICS[kind]
        if version.metrics.get(key) is not None
    ]


def models_overview() -> list[KindSummary]:
    """Per model kind: the version scoring now, the one kept for rollback, the last attempt."""
    current = {
        (row.kind, row.status): row
        for row in ModelVersion.objects.filter(
            status__in=(VersionStatus.ACTIVE, VersionStatus.PREVIOUS)
        ).defer("artifact")
    }
    summaries = []
    for kind, label in ModelKind.choices:
        active = current.get((kind, VersionStatus.ACTIVE))
        summaries.append(
            KindSummary(
                kind=kind,
                label=str(label),
                active=active,
                previous=current.get((kind, VersionStatus.PREVIOUS)),
                last_run=TrainingRun.objects.filter(kind=kind).first(),
                headline=headline(kind, active),
            )
        )
    return summaries


def training_runs_recent(*, limit: int = RECENT_RUNS) -> list[TrainingRun]:
    return list(TrainingRun.objects.select_related("version").defer("version__artifact")[:limit])


def model_version_get(*, kind: str, version: int) -> ModelVersion:
    found = ModelVersion.objects.filter(kind=kind, version=version).defer("artifact").first()
    if found is None:
        raise ModelNotFound(detail={"kind": kind, "version": version})
    return found


def previous_version(*, kind: str) -> ModelVersion | None:
    """The version a rollback of `kind` would make active again."""
    return (
        ModelVersion.objects.filter(kind=kind, status=VersionStatus.PREVIOUS)
        .defer("artifact")
        .first()
    )


def model_versions_of_kind(*, kind: str) -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(kind=kind).defer("artifact").order_by("-version"))


# --- ECharts options ------------------------------------------------------------------------

GREEN = "#1f9d55"
BLUE = "#2f6fb3"
GREY = "#9aa5b1"


def _line(name: str, points: list[list[float]], color: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "line",
        "name": name,
        "data": points,
        "showSymbol": False,
        "lineStyle": {"color": color},
        "itemStyle": {"color": color},
        **extra,
    }


def _diagonal(name: str) -> dict[str, Any]:
    return _line(name, [[0, 0], [1, 1]], GREY, lineStyle={"type": "dashed", "color": GREY})


def _xy_chart(title_x: str, title_y: str, series: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 48, "right": 16, "top": 32, "bottom": 40},
        "xAxis": {
            "type": "value",
            "min": 0,
            "max": 1,
            "name": title_x,
            "nameLocation": "middle",
            "nameGap": 26,
        },
        "yAxis": {"type": "value", "min": 0, "max": 1, "name": title_y},
        "series": series,
    }


def classifier_charts(version: ModelVersion) -> dict[str, dict[str, Any]]:
    """ROC, precision–recall, reliability and feature importance of a churn/propensity version."""
    curves = version.curves
    reliability = curves.get("reliability", [])
    importance = list(reversed(curves.get("importance", [])[:12]))
    base_rate = version.metrics.get("base_rate") or 0
    return {
        "roc": _xy_chart(
            "误报率 (FPR)",
            "命中率 (TPR)",
            [
                _line(f"ROC（AUC {version.metrics.get('auc')}）", curves.get("roc", []), GREEN),
                _diagonal("随机"),
            ],
        ),
        "pr": _xy_chart(
            "召回率",
            "精确率",
            [
                _line(f"PR（AP {version.metrics.get('pr_auc')}）", curves.get("pr", []), BLUE),
                _line(
                    "基准（整体比例）",
                    [[0, base_rate], [1, base_rate]],
                    GREY,
                    lineStyle={"type": "dashed", "color": GREY},
                ),
            ],
        ),
        "reliability": _xy_chart(
            "预测概率",
            "实际发生比例",
            [
                _line(
                    "模型",
                    [[row["mean_predicted"], row["observed_rate"]] for row in reliability],
                    GREEN,
                    showSymbol=True,
                ),
                _diagonal("完美校准"),
            ],
        ),
        "importance": {
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 130, "right": 24, "top": 8, "bottom": 24},
            "xAxis": {"type": "value", "name": "增益占比"},
            "yAxis": {
                "type": "category",
                "data": [FEATURE_LABELS.get(name, name) for name, _ in importance],
            },
            "series": [
                {
                    "type": "bar",
                    "data": [share for _, share in importance],
                    "itemStyle": {"color": GREEN},
                }
            ],
        },
    }


def contact_hour_charts(version: ModelVersion) -> dict[str, dict[str, Any]]:
    patterns = version.curves.get("segment_patterns", {})
    labels = {"": "全体", "live": "直播间", "wecom": "企业微信", "h5": "H5 商城", "shop": "商城"}
    return {
        "patterns": {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "grid": {"left": 48, "right": 16, "top": 32, "bottom": 32},
            "xAxis": {"type": "category", "data": [f"{hour}点" for hour in range(24)]},
            "yAxis": {"type": "value", "name": "响应占比"},
            "series": [
                {
                    "type": "line",
                    "name": labels.get(segment, segment),
                    "data": values,
                    "showSymbol": False,
                }
                for segment, values in sorted(patterns.items())
            ],
        }
    }


def score_distribution_charts() -> dict[str, dict[str, Any]]:
    """How the current scores spread: churn risk, purchase propensity, best hours. Empty when
    the event store is busy (the page still works without them)."""
    try:
        churn = prediction_histogram(column="churn_risk")
        propensity = prediction_histogram(column="purchase_propensity")
        hours = hour_histogram()
    except DomainError:
        return {}
    bins = [f"{low:.1f}–{high:.1f}" for low, high, _ in churn]
    return {
        "scores": {
            "tooltip": {"trigger": "axis"},
            "legend": {"top": 0},
            "grid": {"left": 56, "right": 16, "top": 32, "bottom": 32},
            "xAxis": {"type": "category", "data": bins, "name": "概率"},
            "yAxis": {"type": "value", "name": "人数"},
            "series": [
                {
                    "type": "bar",
                    "name": "流失风险",
                    "data": [c for _, _, c in churn],
                    "itemStyle": {"color": "#d9534f"},
                },
                {
                    "type": "bar",
                    "name": "30天购买概率",
                    "data": [c for _, _, c in propensity],
                    "itemStyle": {"color": GREEN},
                },
            ],
        },
        "hours": {
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 56, "right": 16, "top": 16, "bottom": 32},
            "xAxis": {"type": "category", "data": [f"{hour}点" for hour in range(24)]},
            "yAxis": {"type": "value", "name": "人数"},
            "series": [
                {"type": "bar", "name": "最佳触达时段", "data": hours, "itemStyle": {"color": BLUE}}
            ],
        },
    }
