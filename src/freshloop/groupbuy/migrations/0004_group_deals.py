"""Tables of group deals 拼团 (GB-3)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0003_product_image_files"),
        ("groupbuy", "0003_commission"),
        ("identity", "0008_person_link_names"),
    ]

    operations = [
        migrations.CreateModel(
            name="GroupDeal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("deal_no", models.CharField(max_length=40, unique=True, verbose_name="活动编号")),
                ("title", models.CharField(max_length=64, verbose_name="活动名称")),
                ("tiers", models.JSONField(verbose_name="阶梯价")),
                ("min_size", models.PositiveSmallIntegerField(verbose_name="成团人数")),
                ("max_size", models.PositiveSmallIntegerField(verbose_name="满团人数")),
                ("group_minutes", models.PositiveIntegerField(verbose_name="成团时限（分钟）")),
                (
                    "per_person_limit",
                    models.PositiveSmallIntegerField(default=1, verbose_name="每人限购"),
                ),
                ("quantity", models.PositiveIntegerField(verbose_name="活动库存")),
                ("units_held", models.PositiveIntegerField(default=0, verbose_name="已占库存")),
                (
                    "leader_only",
                    models.BooleanField(
                        default=False,
                        help_text="开启后只有营业中的团长可以开团，顾客只能参团",
                        verbose_name="仅团长开团",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("active", "进行中"), ("ended", "已结束")],
                        default="active",
                        max_length=16,
                        verbose_name="状态",
                    ),
                ),
                ("starts_at", models.DateTimeField(verbose_name="开始时间")),
                (
                    "ends_at",
                    models.DateTimeField(
                        help_text="此后不能再开团；已开的团按各自时限结束", verbose_name="结束时间"
                    ),
                ),
                ("created_by", models.CharField(blank=True, max_length=150, verbose_name="创建人")),
                ("created_at", models.DateTimeField(verbose_name="创建时间")),
                ("updated_at", models.DateTimeField(verbose_name="更新时间")),
                (
                    "sku",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="catalog.sku",
                        verbose_name="商品规格",
                    ),
                ),
            ],
            options={
                "verbose_name": "拼团活动",
                "verbose_name_plural": "拼团活动",
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="DealGroup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("group_no", models.CharField(max_length=40, unique=True, verbose_name="团编号")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("open", "拼团中"),
                            ("succeeded", "拼团成功"),
                            ("failed", "拼团失败"),
                        ],
                        default="open",
                        max_length=16,
                        verbose_name="状态",
                    ),
                ),
                ("seats", models.PositiveSmallIntegerField(default=0, verbose_name="占位人数")),
                ("joined", models.PositiveSmallIntegerField(default=0, verbose_name="已付款人数")),
                (
                    "final_price_fen",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="成团价（分）"),
                ),
                ("opened_at", models.DateTimeField(verbose_name="开团时间")),
                ("closes_at", models.DateTimeField(db_index=True, verbose_name="截止时间")),
                ("closed_at", models.DateTimeField(blank=True, null=True, verbose_name="结束时间")),
                (
                    "leader",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="deal_groups",
                        to="groupbuy.groupleader",
                        verbose_name="团长",
                    ),
                ),
                (
                    "starter",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="identity.person",
                        verbose_name="开团人",
                    ),
                ),
                (
                    "deal",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="groups",
                        to="groupbuy.groupdeal",
                        verbose_name="拼团活动",
                    ),
                ),
            ],
            options={
                "verbose_name": "拼团",
                "verbose_name_plural": "拼团",
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="GroupMember",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("order_no", models.CharField(max_length=40, unique=True, verbose_name="订单号")),
                ("quantity", models.PositiveSmallIntegerField(verbose_name="数量")),
                ("unit_price_fen", models.PositiveIntegerField(verbose_name="参团单价（分）")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "待支付"),
                            ("joined", "已参团"),
                            ("left", "未支付已取消"),
                            ("refunded", "拼团失败已退款"),
                        ],
                        default="pending",
                        max_length=16,
                        verbose_name="状态",
                    ),
                ),
                (
                    "refund_kind",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("", "无"),
                            ("difference", "阶梯差价退款"),
                            ("failed", "拼团失败全额退款"),
                        ],
                        default="",
                        max_length=16,
                        verbose_name="退款类型",
                    ),
                ),
                (
                    "refund_fen",
                    models.PositiveIntegerField(default=0, verbose_name="退款金额（分）"),
                ),
                ("refund_no", models.CharField(blank=True, max_length=40, verbose_name="退款单号")),
                ("joined_at", models.DateTimeField(verbose_name="参团时间")),
                ("paid_at", models.DateTimeField(blank=True, null=True, verbose_name="付款时间")),
                (
                    "deal",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="groupbuy.groupdeal",
                        verbose_name="拼团活动",
                    ),
                ),
                (
                    "group",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="members",
                        to="groupbuy.dealgroup",
                        verbose_name="拼团",
                    ),
                ),
                (
                    "person",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="identity.person",
                        verbose_name="团员",
                    ),
                ),
            ],
            options={
                "verbose_name": "团员",
                "verbose_name_plural": "团员",
                "ordering": ["group", "id"],
            },
        ),
        migrations.AddConstraint(
            model_name="groupdeal",
            constraint=models.CheckConstraint(
                condition=models.Q(("units_held__lte", models.F("quantity"))),
                name="groupbuy_deal_never_oversold",
            ),
        ),
        migrations.AddIndex(
            model_name="dealgroup",
            index=models.Index(fields=["status", "closes_at"], name="groupbuy_group_due"),
        ),
        migrations.AddConstraint(
            model_name="dealgroup",
            constraint=models.CheckConstraint(
                condition=models.Q(("joined__lte", models.F("seats"))),
                name="groupbuy_group_paid_le_seats",
            ),
        ),
        migrations.AddConstraint(
            model_name="groupmember",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ("pending", "joined"))),
                fields=("deal", "person"),
                name="groupbuy_member_one_place_per_deal",
            ),
        ),
    ]
