"""SOP journeys: what a journey is (versions of steps), who is in it, what each step did."""

from __future__ import annotations

from django.db import models

from freshloop.identity.models import Person


class JourneyTrigger(models.TextChoices):
    LIVE_CART_ABANDONED = "live_cart_abandoned", "直播间加购未支付"
    ORDER_PAID = "order_paid", "支付成功"
    CONTACT_ADDED = "contact_added", "新添加企业微信好友"
    SEGMENT_JOINED = "segment_joined", "进入人群"
    COUPON_EXPIRING = "coupon_expiring", "优惠券即将过期"
    BIRTHDAY = "birthday", "生日"


class ContactStatus(models.TextChoices):
    ACTIVE = "active", "好友"
    LOST = "lost", "客户已删除员工"
    REMOVED = "removed", "员工已删除客户"


class WecomContact(models.Model):
    """A WeCom external contact (客户) tied to its OneID, with the staff member who follows
    it (跟进人): the one who sends it 1:1 messages."""

    external_userid = models.CharField("外部联系人ID", max_length=64, unique=True)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    follow_userid = models.CharField("跟进员工", max_length=64)
    name = models.CharField("微信昵称", max_length=64, blank=True)
    state = models.CharField("来源渠道", max_length=64, blank=True, help_text="联系我/活码的 state")
    status = models.CharField(
        "状态", max_length=16, choices=ContactStatus.choices, default=ContactStatus.ACTIVE
    )
    added_at = models.DateTimeField("添加时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "企业微信客户"
        verbose_name_plural = "企业微信客户"
        indexes = [models.Index(fields=["person", "status"])]

    def __str__(self) -> str:
        return self.name or self.external_userid


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    ACTIVE = "active", "运行中"
    PAUSED = "paused", "已暂停"


class Journey(models.Model):
    """A customer journey (SOP): a trigger and the steps of its current version."""

    name = models.CharField("旅程名称", max_length=64)
    trigger = models.CharField("触发条件", max_length=32, choices=JourneyTrigger.choices)
    status = models.CharField(
        "状态", max_length=16, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT
    )
    trigger_config = models.JSONField(
        "触发设置",
        default=dict,
        blank=True,
        help_text="进入人群 {segment_id}；优惠券即将过期、生日 {days}",
    )
    current_version = models.ForeignKey(
        "JourneyVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="当前版本",
    )
    created_by = models.CharField("创建人", max_length=64)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "客户旅程"
        verbose_name_plural = "客户旅程"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class JourneyVersion(models.Model):
    """The steps of a journey as published; never changed afterwards. Customers finish the
    version they entered, whatever is published after them."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField("版本号")
    steps = models.JSONField("步骤", help_text="[{type: wait|condition|coupon|task|tag, ...}]")
    published_by = models.CharField("发布人", max_length=64)
    published_at = models.DateTimeField("发布时间")

    class Meta:
        verbose_name = "旅程版本"
        verbose_name_plural = "旅程版本"
        constraints = [
            models.UniqueConstraint(fields=["journey", "number"], name="journey_version_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.journey.name} v{self.number}"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "进行中"
    COMPLETED = "completed", "已走完"
    EXITED = "exited", "条件不满足退出"


class JourneyEnrollment(models.Model):
    """One customer in one journey version, entered by one trigger occurrence.

    `trigger_key` names that occurrence (e.g. the abandoned cart's room and time), so the same
    trigger delivered twice enrols once. `step_index` is the next step to run, at
    `next_run_at`."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments")
    version = models.ForeignKey(JourneyVersion, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    trigger_key = models.CharField("触发标识", max_length=128)
    context = models.JSONField("触发数据", default=dict)
    status = models.CharField(
        "状态", max_length=16, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    step_index = models.PositiveIntegerField("下一步", default=0)
    next_run_at = models.DateTimeField("下一步时间")
    entered_at = models.DateTimeField("进入时间")
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)
    converted_at = models.DateTimeField("转化时间", null=True, blank=True)
    converted_order_no = models.CharField("转化订单", max_length=40, blank=True)
    converted_fen = models.PositiveIntegerField("转化金额(分)", default=0)

    class Meta:
        verbose_name = "旅程中的客户"
        verbose_name_plural = "旅程中的客户"
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "person", "trigger_key"], name="journey_enrollment_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_run_at"]),
            models.Index(fields=["person", "entered_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.journey_id}/{self.person_id} {self.status}"


class StepOutcome(models.TextChoices):
    DONE = "done", "已执行"
    PASSED = "passed", "条件满足"
    FAILED_CONDITION = "failed_condition", "条件不满足"
    SKIPPED = "skipped", "跳过"


class JourneyStepRun(models.Model):
    """One step executed for one enrolled customer — at most once (unique per step)."""

    enrollment = models.ForeignKey(
        JourneyEnrollment, on_delete=models.CASCADE, related_name="step_runs"
    )
    step_index = models.PositiveIntegerField("步骤")
    step_type = models.CharField("类型", max_length=16)
    outcome = models.CharField("结果", max_length=24, choices=StepOutcome.choices)
    detail = models.CharField("说明", max_length=200, blank=True)
    ran_at = models.DateTimeField("执行时间")

    class Meta:
        verbose_name = "旅程步骤执行"
        verbose_name_plural = "旅程步骤执行"
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "step_index"], name="journey_step_run_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.enrollment_id}#{self.step_index} {self.outcome}"


class TaskStatus(models.TextChoices):
    OPEN = "open", "待处理"
    DONE = "done", "已完成"


class StaffTask(models.Model):
    """Work for a staff member, e.g. "call back: cart still unpaid after 2 hours"."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    title = models.CharField("任务", max_length=120)
    assignee = models.CharField("负责人", max_length=64, blank=True, help_text="留空=团队待领")
    due_at = models.DateTimeField("截止时间")
    status = models.CharField(
        "状态", max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN
    )
    source = models.CharField("来源", max_length=64, blank=True)
    created_at = models.DateTimeField("创建时间")
    done_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        verbose_name = "员工任务"
        verbose_name_plural = "员工任务"
        ordering = ["status", "due_at"]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return self.title


# --- Tags synced with WeCom (企业标签) and staff transfer (跟进人继承) ----------------------------


class WecomTagKind(models.TextChoices):
    CORP = "corp", "企业标签（双向同步）"
    COMPUTED = "computed", "计算标签（由数据中心推送）"


class WecomTag(models.Model):
    """A WeCom corp tag (企业标签) and the FreshLoop manual tag it is synced with.

    `corp` tags are mirrored both ways with the manual tag `freshloop_tag`; `computed` tags
    were created by FreshLoop to carry a data hub computed tag (e.g. an RFM segment) and are
    only pushed, never read back into manual tags."""

    tag_id = models.CharField("企业微信标签ID", max_length=64, unique=True)
    group_id = models.CharField("标签组ID", max_length=64, blank=True)
    group_name = models.CharField("标签组", max_length=64, blank=True)
    name = models.CharField("企业微信标签", max_length=64)
    freshloop_tag = models.CharField("FreshLoop 标签", max_length=32, blank=True)
    kind = models.CharField(
        "类型", max_length=16, choices=WecomTagKind.choices, default=WecomTagKind.CORP
    )
    deleted = models.BooleanField("企业微信已删除", default=False)
    synced_at = models.DateTimeField("同步时间")

    class Meta:
        verbose_name = "企业微信标签"
        verbose_name_plural = "企业微信标签"
        ordering = ["group_name", "name"]
        indexes = [models.Index(fields=["freshloop_tag", "kind"])]

    def __str__(self) -> str:
        return f"{self.group_name}/{self.name}"


class WecomContactTag(models.Model):
    """A corp tag the contact carries in WeCom, as last read or written: the mirror that lets
    a sync tell a real change from its own echo."""

    contact = models.ForeignKey(WecomContact, on_delete=models.CASCADE, related_name="wecom_tags")
    tag_id = models.CharField("企业微信标签ID", max_length=64)

    class Meta:
        verbose_name = "客户的企业微信标签"
        verbose_name_plural = "客户的企业微信标签"
        constraints = [
            models.UniqueConstraint(fields=["contact", "tag_id"], name="wecom_contact_tag_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}:{self.tag_id}"


class ComputedTagPush(models.Model):
    """An operator's choice: push one value of a data hub computed tag (e.g. rfm_segment =
    重要价值客户) to WeCom as a corp tag on every contact who has it."""

    column = models.CharField("计算标签字段", max_length=32)
    value = models.CharField("标签值", max_length=32)
    enabled = models.BooleanField("推送中", default=True)
    wecom_tag_id = models.CharField("企业微信标签ID", max_length=64, blank=True)
    pushed_count = models.PositiveIntegerField("已打标签客户数", default=0)
    last_pushed_at = models.DateTimeField("最近推送", null=True, blank=True)
    created_by = models.CharField("创建人", max_length=64)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "计算标签推送"
        verbose_name_plural = "计算标签推送"
        constraints = [
            models.UniqueConstraint(fields=["column", "value"], name="computed_tag_push_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.column}={self.value}"


class TransferKind(models.TextChoices):
    RESIGNED = "resigned", "离职继承"
    IN_SERVICE = "in_service", "在职继承"


class TransferStatus(models.TextChoices):
    WAITING = "waiting", "等待接替"
    DONE = "done", "接替完毕"
    REFUSED = "refused", "客户拒绝"
    TAKER_FULL = "taker_full", "接替成员客户达到上限"
    NO_RECORD = "no_record", "无接替记录"
    REJECTED = "rejected", "企业微信未受理"


class ContactTransfer(models.Model):
    """One customer handed from one staff member (handover) to another (takeover). WeCom
    answers later (transfer_result, the transfer_fail callback); the contact's 跟进人 changes
    only when WeCom reports the takeover done."""

    contact = models.ForeignKey(WecomContact, on_delete=models.CASCADE, related_name="transfers")
    kind = models.CharField("继承方式", max_length=16, choices=TransferKind.choices)
    handover_userid = models.CharField("原跟进人", max_length=64)
    takeover_userid = models.CharField("接替员工", max_length=64)
    status = models.CharField(
        "状态", max_length=16, choices=TransferStatus.choices, default=TransferStatus.WAITING
    )
    errcode = models.IntegerField("企业微信错误码", default=0)
    fail_reason = models.CharField("失败原因", max_length=64, blank=True)
    requested_by = models.CharField("发起人", max_length=64)
    requested_at = models.DateTimeField("发起时间")
    finished_at = models.DateTimeField("结束时间", null=True, blank=True)

    class Meta:
        verbose_name = "客户继承"
        verbose_name_plural = "客户继承"
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["status", "handover_userid", "takeover_userid"]),
            models.Index(fields=["contact", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.handover_userid}→{self.takeover_userid} {self.status}"


# --- mass messages (企业群发) and moments (客户朋友圈) ---------------------------------------


class BroadcastKind(models.TextChoices):
    TEXT = "text", "文字"
    IMAGE = "image", "图片"
    MINIPROGRAM = "miniprogram", "小程序卡片"
    PRODUCT = "product", "商品链接"


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    SCHEDULED = "scheduled", "待发送"
    SENDING = "sending", "发送中"
    SENT = "sent", "已发送"
    CANCELLED = "cancelled", "已取消"


class Broadcast(models.Model):
    """A mass message (企业群发) to a data hub segment — or every active WeCom contact — sent
    at its time by each customer's 跟进人, through the marketing policy.

    Each recipient's decision is a `messaging.MarketingDispatch` with source "mass:<id>" and
    dedupe key "mass:<id>:<person>", so sending twice sends nothing twice; the product link
    carries the tracking code `bc-<id>` (`?src=`), which paid orders keep as `source_ref`."""

    title = models.CharField("群发名称", max_length=64)
    kind = models.CharField("内容类型", max_length=16, choices=BroadcastKind.choices)
    text = models.TextField("文字内容", blank=True)
    image_url = models.URLField("图片地址", max_length=500, blank=True)
    product_id = models.PositiveBigIntegerField("商品", null=True, blank=True)
    miniprogram = models.JSONField(
        "小程序卡片", default=dict, blank=True, help_text="{title, appid, page, pic_media_id}"
    )
    segment_id = models.PositiveBigIntegerField(
        "目标人群", null=True, blank=True, help_text="留空=全部企业微信好友"
    )
    audience_label = models.CharField("目标人群名称", max_length=64)
    scheduled_at = models.DateTimeField("计划发送时间")
    status = models.CharField(
        "状态", max_length=16, choices=BroadcastStatus.choices, default=BroadcastStatus.DRAFT
    )
    audience_size = models.PositiveIntegerField("人群人数", default=0)
    no_contact = models.PositiveIntegerField("非企业微信好友", default=0)
    started_at = models.DateTimeField("开始发送", null=True, blank=True)
    sent_at = models.DateTimeField("发送完成", null=True, blank=True)
    # 智能发送 (SC-3): instead of everyone at `scheduled_at`, each recipient at the day and hour
    # the message budget plan gives them, within `smart_days` whole days from that time
    # (scrm.smart_send). `smart_planned_at` says the current plan's slots exist; any change
    # to the message clears it, and the send plans again if nobody did.
    smart_send = models.BooleanField("智能发送", default=False)
    smart_days = models.PositiveSmallIntegerField(
        "智能发送周期(天)", default=3, help_text="从计划发送时间起的几个整天内安排"
    )
    smart_value_fen = models.PositiveIntegerField(
        "每次响应价值(分)", default=0, help_text="0=商品价格，非商品群发按近 90 天客单价"
    )
    smart_planned_at = models.DateTimeField("智能发送规划时间", null=True, blank=True)
    created_by = models.CharField("创建人", max_length=64)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "企业群发"
        verbose_name_plural = "企业群发"
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self) -> str:
        return self.title

    @property
    def tracking_code(self) -> str:
        return f"bc-{self.pk}"


class BroadcastClick(models.Model):
    """Someone opened a mass message's product link (the H5 product page with `?src=bc-<id>`):
    one row per visitor, so refreshing the page counts once."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="clicks")
    visitor = models.CharField("访客", max_length=64, help_text="p:<用户> 或 s:<会话>")
    person = models.ForeignKey(Person, on_delete=models.SET_NULL, null=True, related_name="+")
    clicked_at = models.DateTimeField("点击时间")

    class Meta:
        verbose_name = "群发链接点击"
        verbose_name_plural = "群发链接点击"
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "visitor"], name="broadcast_click_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.broadcast_id} {self.visitor}"


class MomentKind(models.TextChoices):
    TEXT = "text", "仅文字"
    IMAGE = "image", "图片"
    LINK = "link", "链接"


class MomentStatus(models.TextChoices):
    DRAFT = "draft", "草稿"
    PUBLISHED = "published", "已提交企业微信"
    FAILED = "failed", "提交失败"


class MomentTask(models.Model):
    """A moment (客户朋友圈) the chosen staff members publish to their customers' moments,
    created in WeCom with `add_moment_task` (the staff member confirms it in WeCom)."""

    text = models.TextField("文字内容", blank=True)
    kind = models.CharField("附件", max_length=16, choices=MomentKind.choices)
    image_url = models.URLField("图片地址", max_length=500, blank=True)
    link_title = models.CharField("链接标题", max_length=64, blank=True)
    link_url = models.URLField("链接地址", max_length=500, blank=True)
    sender_userids = models.JSONField("发表员工", default=list, blank=True, help_text="空=全部")
    visible_tag_ids = models.JSONField(
        "可见客户标签", default=list, blank=True, help_text="企业微信标签 ID；空=全部客户"
    )
    status = models.CharField(
        "状态", max_length=16, choices=MomentStatus.choices, default=MomentStatus.DRAFT
    )
    jobid = models.CharField("企业微信任务ID", max_length=64, blank=True)
    error = models.CharField("失败原因", max_length=200, blank=True)
    created_by = models.CharField("创建人", max_length=64)
    created_at = models.DateTimeField("创建时间")
    published_at = models.DateTimeField("提交时间", null=True, blank=True)

    class Meta:
        verbose_name = "客户朋友圈"
        verbose_name_plural = "客户朋友圈"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.text[:20] or self.link_title


# --- 智能发送 (SC-3): the message budget plan of the smart-send mass messages -----------------


class SmartSendRun(models.Model):
    """One planning of the smart-send mass messages of a period: what was planned, by whom,
    and the plan-vs-baseline numbers the console shows (`intelligence.budgeting.services`'s
    summary: totals, upper bound, messages per staff day, hours)."""

    planned_at = models.DateTimeField("规划时间")
    planned_by = models.CharField("规划人", max_length=64)
    period_start = models.DateField("周期首日", help_text="上海时间")
    days = models.PositiveSmallIntegerField("天数")
    broadcast_ids = models.JSONField("群发", default=list)
    summary = models.JSONField("方案概要", default=dict)

    class Meta:
        verbose_name = "智能发送规划"
        verbose_name_plural = "智能发送规划"
        ordering = ["-planned_at", "-id"]

    def __str__(self) -> str:
        return f"{self.period_start} +{self.days}d"


class SmartSlotStatus(models.TextChoices):
    PLANNED = "planned", "已排期"
    SENT = "sent", "已交发送"
    DROPPED = "dropped", "不发送"


class SmartDropReason(models.TextChoices):
    CUSTOMER_CAP = "customer_cap", "已达客户群发上限"
    STAFF_LIMIT = "staff_limit", "跟进人当日额度已满"
    NO_VALUE = "no_value", "预计价值为零"
    NO_CONTACT = "no_contact", "发送时已不是企业微信好友"


class SmartSendSlot(models.Model):
    """One recipient of a smart-send mass message: when the plan sends it (Asia/Shanghai day
    and hour, stored as UTC), through which 跟进人, what it is expected to bring, and why — or
    why it is not sent. One row per (message, person); planning again replaces the rows of
    messages not yet sending."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="smart_slots")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    staff = models.CharField("跟进人", max_length=64)
    status = models.CharField(
        "状态", max_length=16, choices=SmartSlotStatus.choices, default=SmartSlotStatus.PLANNED
    )
    drop_reason = models.CharField(
        "不发送原因", max_length=16, choices=SmartDropReason.choices, blank=True
    )
    send_at = models.DateTimeField("计划发送时间", null=True, blank=True)
    # An expectation (probability × value), not money that moves: fractions of a fen add up
    # over a hundred thousand recipients, so it is kept as a float.
    expected_value_fen = models.FloatField("预计价值(分)", default=0.0)
    expected_responses = models.FloatField("预计响应", default=0.0)
    explanation = models.TextField("说明", blank=True)
    planned_at = models.DateTimeField("规划时间")
    sent_at = models.DateTimeField("交发送时间", null=True, blank=True)

    class Meta:
        verbose_name = "智能发送安排"
        verbose_name_plural = "智能发送安排"
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "person"], name="smart_send_slot_uniq")
        ]
        # The send's question: this message's planned slots due by now.
        indexes = [models.Index(fields=["broadcast", "status", "send_at"])]

    def __str__(self) -> str:
        return f"{self.broadcast_id}/{self.person_id} {self.status}"
