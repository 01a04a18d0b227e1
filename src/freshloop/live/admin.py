"""Back office for live sessions: schedule a session (through `room.services.live_session_create`),
look at its products, comments, viewers, lucky draws and flash sales, and the few moderation
steps an operator may take from here (go live / end, delete a comment, ban, end a flash sale) —
each through the host services, never a raw save. Running a session happens in the host console.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from unfold.admin import ModelAdmin, TabularInline

from freshloop.catalog.models import Sku
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.images import image_check
from freshloop.core.money import format_fen
from freshloop.live.flash_sale.services import flash_sale_end
from freshloop.live.host import services as host
from freshloop.live.host.selectors import host_session_require, lucky_draw_verify
from freshloop.live.models import (
    FlashSale,
    FlashSaleStatus,
    LiveComment,
    LiveProduct,
    LiveSession,
    LiveViewer,
    LuckyDraw,
)
from freshloop.live.room.services import live_session_cover_upload, live_session_create
from freshloop.promotions.models import CouponTemplate


class _Unchangeable:
    """Rows are changed by services; the back office looks and acts through actions."""

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class _ReadOnly(_Unchangeable):
    """Rows are also created by services only."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _each(
    admin_view: ModelAdmin,
    request: HttpRequest,
    rows: QuerySet[Any],
    step: Callable[[Any, Actor], Any],
    done: str,
) -> None:
    """Run a service per selected row, on sessions the operator hosts (any, for an admin); a
    refusal is a message for that row, not a crash. A row is a session or has `.session`."""
    actor = Actor.for_user(request.user)
    succeeded = 0
    for row in rows.order_by("pk"):
        session = row if isinstance(row, LiveSession) else row.session
        try:
            host_session_require(request.user, session)
            step(row, actor)
            succeeded += 1
        except DomainError as error:
            admin_view.message_user(request, f"{row}：{error.text}", messages.ERROR)
    if succeeded:
        admin_view.message_user(request, f"{done} {succeeded} 条", messages.SUCCESS)


# --- sessions -------------------------------------------------------------------------------


class LiveSessionCreateForm(forms.ModelForm):
    skus = forms.ModelMultipleChoiceField(
        label="直播商品",
        queryset=Sku.objects.filter(is_active=True).select_related("product"),
        help_text="按选择的顺序展示在直播间",
    )
    cover_upload = forms.FileField(
        label="上传封面",
        required=False,
        help_text="JPEG、PNG 或 WebP，不超过 10 MB；上传后覆盖上面的封面地址",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    class Meta:
        model = LiveSession
        fields = (
            "title",
            "description",
            "cover_url",
            "host",
            "scheduled_at",
            "members_only",
            "coupon_templates",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["host"].queryset = get_user_model().objects.filter(is_active=True)  # type: ignore[attr-defined]
        self.fields["coupon_templates"].queryset = CouponTemplate.objects.filter(  # type: ignore[attr-defined]
            live_only=True, is_active=True
        )
        self.fields["coupon_templates"].help_text = "只能选择“仅限直播间”的优惠券"

    def clean_cover_upload(self) -> Any:
        upload = self.cleaned_data.get("cover_upload")
        if upload is not None:
            try:
                image_check(upload)
            except DomainError as error:
                raise forms.ValidationError(error.text) from error
        return upload


class LiveProductInline(_ReadOnly, TabularInline):
    model = LiveProduct
    extra = 0
    fields = ("sku", "price", "sort_order", "pinned_at")
    readonly_fields = fields
    verbose_name_plural = "直播商品"

    @admin.display(description="售价")
    def price(self, obj: LiveProduct) -> str:
        return format_fen(obj.sku.price_fen)


@admin.register(LiveSession)
class LiveSessionAdmin(_Unchangeable, ModelAdmin):
    """Sessions are added here (through `live_session_create`); changes happen in the host
    console, through the host services."""

    list_display = (
        "code",
        "title",
        "host",
        "scheduled_at",
        "status",
        "peak_viewers",
        "likes",
        "console_link",
    )
    list_filter = ("status", "members_only")
    search_fields = ("code", "title")
    readonly_fields = (
        "code",
        "title",
        "description",
        "cover_url",
        "host",
        "scheduled_at",
        "status",
        "stream_name",
        "replay_url",
        "members_only",
        "coupon_list",
        "started_at",
        "ended_at",
        "peak_viewers",
        "likes",
        "created_at",
        "console_link",
    )
    actions = ("go_live", "end_live")

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[type[Any]]:
        return [LiveProductInline] if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                *LiveSessionCreateForm.Meta.fields[:3],
                "cover_upload",
                *LiveSessionCreateForm.Meta.fields[3:5],
                "skus",
                *LiveSessionCreateForm.Meta.fields[5:],
            ]
        return self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else ()

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = LiveSessionCreateForm
            kwargs["fields"] = None
        return super().get_form(request, obj, change, **kwargs)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> Any:
        try:
            return super().add_view(request, form_url, extra_context)
        except DomainError as error:
            self.message_user(request, error.text, messages.ERROR)
            from django.http import HttpResponseRedirect

            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: LiveSession, form: Any, change: bool) -> None:
        data = form.cleaned_data
        session = live_session_create(
            title=data["title"],
            host=data["host"],
            scheduled_at=data["scheduled_at"],
            sku_ids=[sku.pk for sku in data["skus"]],
            coupon_template_ids=[t.pk for t in data.get("coupon_templates") or []],
            description=data.get("description") or "",
            cover_url=data.get("cover_url") or "",
            members_only=bool(data.get("members_only")),
            actor=Actor.for_user(request.user),
        )
        if data.get("cover_upload") is not None:
            session = live_session_cover_upload(
                session=session, file=data["cover_upload"], actor=Actor.for_user(request.user)
            )
        # The admin goes on to log and redirect with `obj`: make it the saved row.
        for field in LiveSession._meta.concrete_fields:
            setattr(obj, field.attname, getattr(session, field.attname))
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # products and coupons were set by live_session_create

    @admin.display(description="直播间优惠券")
    def coupon_list(self, obj: LiveSession) -> str:
        return "、".join(t.name for t in obj.coupon_templates.all()) or "-"

    @admin.display(description="主播控制台")
    def console_link(self, obj: LiveSession) -> str:
        return format_html('<a href="/console/live/{}" target="_blank">打开控制台</a>', obj.code)

    @admin.action(description="开播所选直播")
    def go_live(self, request: HttpRequest, queryset: QuerySet[LiveSession]) -> None:
        def step(session: LiveSession, actor: Actor) -> None:
            host.live_session_start(session=session, actor=actor)

        _each(self, request, queryset, step, "已开播")

    @admin.action(description="结束所选直播")
    def end_live(self, request: HttpRequest, queryset: QuerySet[LiveSession]) -> None:
        def step(session: LiveSession, actor: Actor) -> None:
            host.live_session_end(session=session, actor=actor)

        _each(self, request, queryset, step, "已结束")


# --- the room -------------------------------------------------------------------------------


@admin.register(LiveComment)
class LiveCommentAdmin(_ReadOnly, ModelAdmin):
    list_display = ("created_at", "session", "nickname", "text", "deleted_at", "deleted_by")
    list_filter = ("session",)
    search_fields = ("text", "viewer__nickname", "session__code")
    list_select_related = ("session", "viewer")
    actions = ("hide",)

    @admin.display(description="昵称")
    def nickname(self, obj: LiveComment) -> str:
        return obj.viewer.nickname

    @admin.action(description="删除所选评论（隐藏，保留记录）")
    def hide(self, request: HttpRequest, queryset: QuerySet[LiveComment]) -> None:
        def step(comment: LiveComment, actor: Actor) -> None:
            host.comment_delete(comment=comment, actor=actor)

        _each(self, request, queryset.select_related("session"), step, "已删除")


@admin.register(LiveViewer)
class LiveViewerAdmin(_ReadOnly, ModelAdmin):
    list_display = (
        "nickname",
        "session",
        "person",
        "first_seen_at",
        "last_seen_at",
        "dwell_seconds",
        "muted_until",
        "banned",
    )
    list_filter = ("banned", "session")
    search_fields = ("nickname", "person__one_id", "session__code")
    list_select_related = ("session", "person")
    actions = ("ban", "unban")

    @admin.action(description="拉黑所选观众（移出本场直播）")
    def ban(self, request: HttpRequest, queryset: QuerySet[LiveViewer]) -> None:
        def step(viewer: LiveViewer, actor: Actor) -> None:
            host.viewer_ban(session=viewer.session, person_id=viewer.person_id, actor=actor)

        _each(self, request, queryset.select_related("session"), step, "已拉黑")

    @admin.action(description="解除拉黑")
    def unban(self, request: HttpRequest, queryset: QuerySet[LiveViewer]) -> None:
        def step(viewer: LiveViewer, actor: Actor) -> None:
            host.viewer_unban(session=viewer.session, person_id=viewer.person_id, actor=actor)

        _each(self, request, queryset.select_related("session"), step, "已解除拉黑")


@admin.register(LuckyDraw)
class LuckyDrawAdmin(_ReadOnly, ModelAdmin):
    list_display = (
        "created_at",
        "session",
        "prize",
        "winners_count",
        "candidate_count",
        "verified",
        "actor",
    )
    list_filter = ("session",)
    search_fields = ("prize", "session__code", "seed")
    list_select_related = ("session",)
    readonly_fields = (
        "session",
        "prize",
        "winners_count",
        "seed",
        "candidates",
        "winners",
        "winner_names",
        "verified",
        "actor",
        "created_at",
    )

    @admin.display(description="候选人数")
    def candidate_count(self, obj: LuckyDraw) -> int:
        return len(obj.candidates)

    @admin.display(description="中奖昵称")
    def winner_names(self, obj: LuckyDraw) -> str:
        names = dict(LiveViewer.objects.filter(pk__in=obj.winners).values_list("pk", "nickname"))
        return "、".join(names.get(int(w), str(w)) for w in obj.winners)

    @admin.display(description="复核(按种子重算)", boolean=True)
    def verified(self, obj: LuckyDraw) -> bool:
        return lucky_draw_verify(draw=obj)


@admin.register(FlashSale)
class FlashSaleAdmin(_ReadOnly, ModelAdmin):
    list_display = (
        "session",
        "sku",
        "price",
        "quantity",
        "claimed",
        "paid",
        "per_user_limit",
        "starts_at",
        "ends_at",
        "status",
    )
    list_filter = ("status", "session")
    search_fields = ("session__code",)
    list_select_related = ("session", "sku__product")
    actions = ("end",)

    @admin.display(description="秒杀价")
    def price(self, obj: FlashSale) -> str:
        return format_fen(obj.price_fen)

    @admin.action(description="结束所选秒杀")
    def end(self, request: HttpRequest, queryset: QuerySet[FlashSale]) -> None:
        def step(sale: FlashSale, actor: Actor) -> None:
            flash_sale_end(flash_sale=sale, actor=actor)

        running = queryset.filter(status=FlashSaleStatus.RUNNING).select_related("session")
        _each(self, request, running, step, "已结束")
