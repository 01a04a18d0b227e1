"""SOP journeys: what a journey is (versions of steps), who is in it, what each step did."""

from __future__ import annotations

from django.db import models

from freshloop.identity.models import Person


class JourneyTrigger(models.TextChoices):
    LIVE_CART_ABANDONED = "live_cart_abandoned", "直播间加购未支付"
    ORDER_PAID = "order_paid", "支付成功"
    CONTACT_ADDED = "contact_added", "新添加企业微信好友"


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
