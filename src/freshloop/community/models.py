"""Community (SC-2): customer groups on WeCom and what happens in them: groups and members,
群活码, welcome templates, topics, challenges; group messages, the keyword assistant, check-ins
and draws."""

from __future__ import annotations

from django.db import models

from freshloop.identity.models import Person
from freshloop.promotions.models import CouponTemplate


class GroupStatus(models.TextChoices):
    ACTIVE = "active", "正常"
    DISMISSED = "dismissed", "已解散"


class WelcomeTemplate(models.Model):
    """A 入群欢迎语 template registered with WeCom (group_welcome_template/add): text plus at
    most one attachment — an image URL, a link, or a mini-program card."""

    name = models.CharField("名称", max_length=64)
    text = models.TextField("欢迎语", blank=True)
    image_url = models.URLField("图片链接", max_length=500, blank=True)
    link_title = models.CharField("链接标题", max_length=128, blank=True)
    link_url = models.URLField("链接地址", max_length=500, blank=True)
    miniprogram_title = models.CharField("小程序标题", max_length=64, blank=True)
    miniprogram_appid = models.CharField("小程序 AppID", max_length=64, blank=True)
    miniprogram_page = models.CharField("小程序页面", max_length=200, blank=True)
    miniprogram_pic_media_id = models.CharField("小程序封面 media_id", max_length=128, blank=True)
    wecom_template_id = models.CharField("企业微信模板ID", max_length=128, blank=True)
    created_by = models.CharField("创建人", max_length=64)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "入群欢迎语"
        verbose_name_plural = "入群欢迎语"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class CustomerGroup(models.Model):
    """A WeCom customer group (客户群), as groupchat/get and the change_external_chat
    callbacks describe it. `member_count` / `customer_count` are kept with the member rows."""

    chat_id = models.CharField("群ID", max_length=128, unique=True)
    name = models.CharField("群名", max_length=128, blank=True)
    owner_userid = models.CharField("群主", max_length=64, blank=True)
    notice = models.TextField("群公告", blank=True)
    status = models.CharField(
        "状态", max_length=16, choices=GroupStatus.choices, default=GroupStatus.ACTIVE
    )
    member_count = models.PositiveIntegerField("成员数", default=0)
    customer_count = models.PositiveIntegerField("客户数", default=0)
    welcome_template = models.ForeignKey(
        WelcomeTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="groups",
        verbose_name="入群欢迎语",
    )
    created_at = models.DateTimeField("建群时间", null=True, blank=True)
    dismissed_at = models.DateTimeField("解散时间", null=True, blank=True)
    synced_at = models.DateTimeField("同步时间")

    class Meta:
        verbose_name = "客户群"
        verbose_name_plural = "客户群"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name or self.chat_id


class MemberType(models.TextChoices):
    STAFF = "staff", "员工"
    CUSTOMER = "customer", "客户"


class GroupMember(models.Model):
    """One member of a group; a customer member carries its OneID. A member who leaves keeps
    the row with `left_at` (a rejoin clears it)."""

    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="members")
    userid = models.CharField(
        "成员ID", max_length=128, help_text="员工 userid 或客户 external_userid"
    )
    member_type = models.CharField("类型", max_length=16, choices=MemberType.choices)
    name = models.CharField("昵称", max_length=64, blank=True)
    unionid = models.CharField("UnionID", max_length=128, blank=True)
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    join_time = models.DateTimeField("入群时间", null=True, blank=True)
    join_scene = models.PositiveSmallIntegerField("入群方式", default=0)
    left_at = models.DateTimeField("退群时间", null=True, blank=True)

    class Meta:
        verbose_name = "群成员"
        verbose_name_plural = "群成员"
        constraints = [
            models.UniqueConstraint(fields=["group", "userid"], name="community_member_uniq")
        ]
        indexes = [models.Index(fields=["person", "left_at"])]

    def __str__(self) -> str:
        return f"{self.group_id}/{self.userid}"


class MemberEventKind(models.TextChoices):
    JOIN = "join", "入群"
    LEAVE = "leave", "退群"


class GroupMemberEvent(models.Model):
    """A join or a leave, when it happened: what the health page counts per day."""

    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="+")
    userid = models.CharField("成员ID", max_length=128)
    kind = models.CharField("事件", max_length=8, choices=MemberEventKind.choices)
    is_customer = models.BooleanField("是否客户", default=True)
    at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "入群/退群记录"
        verbose_name_plural = "入群/退群记录"
        indexes = [models.Index(fields=["group", "at"])]

    def __str__(self) -> str:
        return f"{self.group_id}/{self.userid} {self.kind}"


class GroupChangeReceipt(models.Model):
    """One change_external_chat callback applied: its event_key, so a replay does nothing."""

    event_key = models.CharField("事件标识", max_length=64, unique=True)
    chat_id = models.CharField("群ID", max_length=128)
    change = models.CharField("变更", max_length=32)
    received_at = models.DateTimeField("处理时间")

    class Meta:
        verbose_name = "客户群变更回调"
        verbose_name_plural = "客户群变更回调"

    def __str__(self) -> str:
        return f"{self.chat_id} {self.change}"


# --- 群活码 ------------------------------------------------------------------------------------


class JoinCode(models.Model):
    """A rotating group QR (群活码): one public address that always shows the QR of the first
    of its groups that is not full, so a poster keeps working as groups fill up."""

    code = models.SlugField("活码标识", max_length=32, unique=True)
    name = models.CharField("名称", max_length=64)
    welcome_template = models.ForeignKey(
        WelcomeTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="入群欢迎语",
    )
    scans = models.PositiveIntegerField("扫码次数", default=0)
    created_by = models.CharField("创建人", max_length=64)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "群活码"
        verbose_name_plural = "群活码"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class JoinCodeGroup(models.Model):
    """One group of a 活码, in order, with the customer count at which it counts as full and
    the content of that group's own 加入群聊 QR (what its image decodes to)."""

    join_code = models.ForeignKey(JoinCode, on_delete=models.CASCADE, related_name="entries")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField("顺序")
    threshold = models.PositiveSmallIntegerField("满员人数", default=200)
    qr_content = models.CharField("群二维码内容", max_length=500)
    scans = models.PositiveIntegerField("扫码次数", default=0)

    class Meta:
        verbose_name = "活码中的群"
        verbose_name_plural = "活码中的群"
        ordering = ["join_code", "position"]
        constraints = [
            models.UniqueConstraint(fields=["join_code", "group"], name="community_code_group_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.join_code_id}#{self.position}"


# --- 话题 (scheduled topic prompts) -------------------------------------------------------


class TopicRepeat(models.TextChoices):
    ONCE = "once", "一次"
    WEEKLY = "weekly", "每周"


class TopicPrompt(models.Model):
    """A topic to post in a group at a time (once, or every week on that weekday and time).
    At `next_run_at` a group mass message is created for the owner to confirm."""

    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="topics")
    text = models.TextField("话题内容")
    repeat = models.CharField("重复", max_length=8, choices=TopicRepeat.choices)
    next_run_at = models.DateTimeField("下次发送", null=True, blank=True)
    is_active = models.BooleanField("启用", default=True)
    created_by = models.CharField("创建人", max_length=64)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "群话题"
        verbose_name_plural = "群话题"
        ordering = ["next_run_at", "id"]
        indexes = [models.Index(fields=["is_active", "next_run_at"])]

    def __str__(self) -> str:
        return self.text[:20]


class TopicSendStatus(models.TextChoices):
    PENDING = "pending", "待群主确认"
    SENT = "sent", "已发送"
    FAILED = "failed", "发送失败"
    SKIPPED = "skipped", "未发送"


class TopicSend(models.Model):
    """One occurrence of a topic: the group mass message created for it (at most one per
    topic and due time) and what became of it."""

    topic = models.ForeignKey(TopicPrompt, on_delete=models.CASCADE, related_name="sends")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField("计划时间")
    status = models.CharField(
        "状态", max_length=16, choices=TopicSendStatus.choices, default=TopicSendStatus.PENDING
    )
    msgid = models.CharField("企业微信群发ID", max_length=128, blank=True)
    sender = models.CharField("发送人（群主）", max_length=64, blank=True)
    detail = models.CharField("说明", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间")
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)

    class Meta:
        verbose_name = "话题发送"
        verbose_name_plural = "话题发送"
        ordering = ["-due_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["topic", "due_at"], name="community_topic_send_uniq")
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.topic_id}@{self.due_at:%Y-%m-%d %H:%M}"


# --- 社群挑战 ------------------------------------------------------------------------------


class ChallengeStatus(models.TextChoices):
    ACTIVE = "active", "进行中"
    REWARDED = "rewarded", "已达成，已发券"
    ENDED = "ended", "已结束未达成"


class GroupChallenge(models.Model):
    """A group GMV target in a period; reached, every customer member gets a coupon once."""

    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="challenges")
    name = models.CharField("挑战名称", max_length=64)
    target_fen = models.PositiveBigIntegerField("目标 GMV(分)")
    starts_at = models.DateTimeField("开始时间")
    ends_at = models.DateTimeField("结束时间")
    coupon_template = models.ForeignKey(
        CouponTemplate, on_delete=models.PROTECT, related_name="+", verbose_name="奖励优惠券"
    )
    status = models.CharField(
        "状态", max_length=16, choices=ChallengeStatus.choices, default=ChallengeStatus.ACTIVE
    )
    reached_fen = models.PositiveBigIntegerField("达成时 GMV(分)", default=0)
    rewarded_at = models.DateTimeField("发券时间", null=True, blank=True)
    rewarded_count = models.PositiveIntegerField("发券人数", default=0)
    created_by = models.CharField("创建人", max_length=64)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "社群挑战"
        verbose_name_plural = "社群挑战"
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "ends_at"])]

    def __str__(self) -> str:
        return self.name


CHAT_ID_LENGTH = 64


class SenderType(models.TextChoices):
    CUSTOMER = "customer", "客户"
    STAFF = "staff", "员工"


class GroupMessage(models.Model):
    """One message of a group, as a 会话存档 relay posted it (kept short: the assistant, the
    draws and group health need who, where and when, not the whole archive)."""

    msgid = models.CharField("消息ID", max_length=128, unique=True)
    chat_id = models.CharField("群ID", max_length=CHAT_ID_LENGTH)
    sender = models.CharField("发送者ID", max_length=64)
    sender_type = models.CharField("发送者类型", max_length=16, choices=SenderType.choices)
    sender_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField("发送时间")
    msgtype = models.CharField("消息类型", max_length=32)
    text = models.CharField("文本（截断）", max_length=500, blank=True)
    received_at = models.DateTimeField("接收时间")
    handled_at = models.DateTimeField("助手处理时间", null=True, blank=True)

    class Meta:
        verbose_name = "群消息"
        verbose_name_plural = "群消息"
        indexes = [
            models.Index(fields=["chat_id", "sent_at"]),
            models.Index(fields=["handled_at", "received_at"]),
        ]

    def __str__(self) -> str:
        return self.msgid


class RuleMatch(models.TextChoices):
    CONTAINS = "contains", "包含关键词"
    REGEX = "regex", "正则表达式"


class ReplyKind(models.TextChoices):
    TEXT = "text", "文本"
    COUPON = "coupon", "优惠券领取链接"
    PRODUCT = "product", "商品卡片"
    CHECKIN = "checkin", "签到"


class AssistantRule(models.Model):
    """A keyword rule: a customer's message that matches gets a reply prepared (or posted by
    the robot in an internal group), at most once per group per cooldown."""

    name = models.CharField("规则名称", max_length=64)
    match = models.CharField("匹配方式", max_length=16, choices=RuleMatch.choices)
    pattern = models.CharField("关键词/正则", max_length=200)
    chat_ids = models.JSONField("适用群", default=list, blank=True, help_text="空表示所有群")
    reply_kind = models.CharField("回复类型", max_length=16, choices=ReplyKind.choices)
    reply_text = models.CharField("回复内容", max_length=1000, blank=True)
    redeem_code = models.CharField(
        "兑换码", max_length=32, blank=True, help_text="领券回复：客户在「我的优惠券」输入此码领取"
    )
    product_id = models.PositiveBigIntegerField("商品", null=True, blank=True)
    cooldown_seconds = models.PositiveIntegerField("每群冷却（秒）", default=300)
    enabled = models.BooleanField("启用", default=True)
    created_by = models.CharField("创建人", max_length=150)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "关键词规则"
        verbose_name_plural = "关键词规则"

    def __str__(self) -> str:
        return self.name


class RuleCooldown(models.Model):
    """When a rule may next answer in a group: claimed by one conditional UPDATE (or the
    first INSERT), so two messages at the same instant produce one reply."""

    rule = models.ForeignKey(AssistantRule, on_delete=models.CASCADE, related_name="+")
    chat_id = models.CharField("群ID", max_length=CHAT_ID_LENGTH)
    until = models.DateTimeField("冷却至")

    class Meta:
        verbose_name = "规则冷却"
        verbose_name_plural = "规则冷却"
        constraints = [
            models.UniqueConstraint(fields=["rule", "chat_id"], name="community_cooldown_once")
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}@{self.chat_id}"


class ReplyStatus(models.TextChoices):
    PREPARED = "prepared", "待发送"
    SENT = "sent", "已发送"
    EXPIRED = "expired", "已过期"
    FAILED = "failed", "发送失败"


class ReplyChannel(models.TextChoices):
    SIDEBAR = "sidebar", "群主在聊天工具栏发送"
    ROBOT = "robot", "群机器人自动发送"


class AssistantReply(models.Model):
    """A reply for a group: prepared for the group owner to send from the WeCom chat sidebar
    (customer groups: WeCom has no API that posts there), or posted by the group robot
    (internal groups)."""

    chat_id = models.CharField("群ID", max_length=CHAT_ID_LENGTH)
    rule = models.ForeignKey(
        AssistantRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    trigger_msgid = models.CharField("触发消息ID", max_length=128, blank=True)
    source = models.CharField("来源", max_length=32, help_text="rule / checkin / draw")
    content = models.TextField("回复内容")
    channel = models.CharField("发送方式", max_length=16, choices=ReplyChannel.choices)
    status = models.CharField(
        "状态", max_length=16, choices=ReplyStatus.choices, default=ReplyStatus.PREPARED
    )
    created_at = models.DateTimeField("生成时间")
    expires_at = models.DateTimeField("过期时间")
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)
    sent_by = models.CharField("发送人", max_length=150, blank=True)
    delivery_ref = models.CharField("发送回执", max_length=128, blank=True)

    class Meta:
        verbose_name = "助手回复"
        verbose_name_plural = "助手回复"
        indexes = [models.Index(fields=["chat_id", "status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.chat_id} {self.content[:20]}"


class GroupRobot(models.Model):
    """An internal group's robot (群机器人): its webhook key lets FreshLoop post there."""

    chat_id = models.CharField("群ID", max_length=CHAT_ID_LENGTH, unique=True)
    name = models.CharField("机器人名称", max_length=64)
    webhook_key = models.CharField("Webhook key", max_length=64)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "内部群机器人"
        verbose_name_plural = "内部群机器人"

    def __str__(self) -> str:
        return self.name


class RobotPost(models.Model):
    """Every robot post, real or sandbox: what was sent where and what the webhook said."""

    chat_id = models.CharField("群ID", max_length=CHAT_ID_LENGTH)
    provider = models.CharField("通道", max_length=16)
    msgtype = models.CharField("消息类型", max_length=16)
    content = models.TextField("内容")
    ok = models.BooleanField("成功")
    answer = models.CharField("应答", max_length=200, blank=True)
    posted_at = models.DateTimeField("发送时间")

    class Meta:
        verbose_name = "机器人消息"
        verbose_name_plural = "机器人消息"

    def __str__(self) -> str:
        return f"{self.chat_id} {self.msgtype}"


class CheckIn(models.Model):
    """A customer's daily check-in (每日签到): one per Asia/Shanghai day (the unique
    constraint is what makes it so under concurrency)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    day = models.DateField("签到日（北京时间）")
    chat_id = models.CharField("群ID", max_length=CHAT_ID_LENGTH, blank=True)
    streak = models.PositiveIntegerField("连续天数")
    points = models.PositiveIntegerField("获得积分")
    channel = models.CharField("签到方式", max_length=16, help_text="h5 / keyword")
    created_at = models.DateTimeField("签到时间")

    class Meta:
        verbose_name = "签到"
        verbose_name_plural = "签到"
        constraints = [
            models.UniqueConstraint(fields=["person", "day"], name="community_checkin_once_a_day")
        ]
        indexes = [models.Index(fields=["chat_id", "created_at"])]

    def __str__(self) -> str:
        return f"{self.person_id} {self.day}"


class DrawPool(models.TextChoices):
    CHECKIN = "checkin", "窗口内签到的人"
    MESSAGE = "message", "窗口内发过言的人"
    BOTH = "both", "签到或发言的人"


class GroupDraw(models.Model):
    """A lucky draw for a group (群抽奖): the sorted candidates and a fresh seed are stored,
    so anyone can recompute the winners (`live.host.selectors.draw_winners`)."""

    chat_id = models.CharField("群ID", max_length=CHAT_ID_LENGTH)
    title = models.CharField("抽奖名称", max_length=64)
    prize = models.CharField("奖品", max_length=100)
    pool = models.CharField("参与人", max_length=16, choices=DrawPool.choices)
    window_start = models.DateTimeField("统计开始")
    window_end = models.DateTimeField("统计结束")
    winners_count = models.PositiveIntegerField("中奖人数")
    seed = models.CharField("随机种子", max_length=64)
    candidates = models.JSONField("候选人（OneID 内部编号，升序）")
    winners = models.JSONField("中奖人")
    announcement = models.ForeignKey(
        AssistantReply, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.CharField("发起人", max_length=150)
    created_at = models.DateTimeField("发起时间")

    class Meta:
        verbose_name = "群抽奖"
        verbose_name_plural = "群抽奖"

    def __str__(self) -> str:
        return self.title
