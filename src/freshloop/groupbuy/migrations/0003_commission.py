"""Tables of commission (GB-2): attributed orders with their pickup, commission rules and
accruals, the append-only double-entry ledger, settlement runs and statements."""

import django.db.models.deletion
import freshloop.core.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("groupbuy", "0002_default_levels"),
        ("catalog", "0003_product_image_files"),
        ("identity", "0008_person_link_names"),
        ("orders", "0005_aftersales_case"),
    ]

    operations = [
        migrations.CreateModel(
            name='LeaderOrder',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('order_no', models.CharField(max_length=40, verbose_name='订单号')),
                ('channel', models.CharField(max_length=16, verbose_name='渠道')),
                ('paid_at', models.DateTimeField(verbose_name='支付时间')),
                ('paid_fen', models.PositiveBigIntegerField(verbose_name='实付(分)')),
                ('shipping_fen', models.PositiveBigIntegerField(default=0, verbose_name='运费(分)')),
                ('gmv_fen', models.PositiveBigIntegerField(help_text='实付减运费', verbose_name='销售额(分)')),
                ('refunded_fen', models.PositiveBigIntegerField(default=0, verbose_name='已退款(分)')),
                ('gmv_refunded_fen', models.PositiveBigIntegerField(default=0, verbose_name='销售额中已退(分)')),
                ('refund_nos', models.JSONField(blank=True, default=list, verbose_name='已处理退款单')),
                ('pickup_code', models.CharField(max_length=8, verbose_name='提货码')),
                ('pickup_name', models.CharField(max_length=64, verbose_name='自提点名称')),
                ('pickup_address', freshloop.core.fields.EncryptedJSONField(blank=True, default=dict, verbose_name='自提点地址')),
                ('pickup_hours', models.CharField(max_length=64, verbose_name='营业时间')),
                ('pickup_status', models.CharField(choices=[('awaiting', '待自提'), ('picked_up', '已自提'), ('refunded', '已退款')], default='awaiting', max_length=16, verbose_name='自提状态')),
                ('picked_up_at', models.DateTimeField(blank=True, null=True, verbose_name='自提时间')),
                ('attributed_at', models.DateTimeField(verbose_name='归属时间')),
                ('leader', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='attributed_orders', to='groupbuy.groupleader', verbose_name='团长')),
                ('order', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='orders.order', verbose_name='订单')),
                ('person', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='identity.person', verbose_name='顾客')),
            ],
            options={
                'verbose_name': '团长订单',
                'verbose_name_plural': '团长订单',
                'ordering': ['-paid_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='CommissionAccrual',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('depth', models.PositiveSmallIntegerField(verbose_name='层级')),
                ('base_fen', models.PositiveBigIntegerField(verbose_name='计佣金额(分)')),
                ('amount_fen', models.PositiveBigIntegerField(verbose_name='佣金(分)')),
                ('reversed_fen', models.PositiveBigIntegerField(default=0, verbose_name='已冲回(分)')),
                ('breakdown', models.JSONField(blank=True, default=dict, verbose_name='计算明细')),
                ('matures_at', models.DateTimeField(db_index=True, verbose_name='可结算时间')),
                ('matured_at', models.DateTimeField(blank=True, null=True, verbose_name='转为可结算')),
                ('created_at', models.DateTimeField(verbose_name='创建时间')),
                ('beneficiary', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='groupbuy.groupleader', verbose_name='受益团长')),
                ('leader_order', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='accruals', to='groupbuy.leaderorder', verbose_name='团长订单')),
            ],
            options={
                'verbose_name': '佣金记录',
                'verbose_name_plural': '佣金记录',
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='LedgerTransaction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ref', models.CharField(max_length=96, unique=True, verbose_name='业务键')),
                ('kind', models.CharField(choices=[('accrue', '佣金计提'), ('mature', '售后期满'), ('reverse', '退款冲回'), ('settle', '结算审核'), ('pay', '结算打款')], max_length=16, verbose_name='类型')),
                ('order_no', models.CharField(blank=True, max_length=40, verbose_name='订单号')),
                ('memo', models.CharField(blank=True, max_length=200, verbose_name='说明')),
                ('actor_label', models.CharField(blank=True, max_length=150, verbose_name='操作人')),
                ('occurred_at', models.DateTimeField(db_index=True, verbose_name='记账时间')),
                ('accrual', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='groupbuy.commissionaccrual', verbose_name='佣金记录')),
                ('leader', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='groupbuy.groupleader', verbose_name='团长')),
            ],
            options={
                'verbose_name': '佣金账本凭证',
                'verbose_name_plural': '佣金账本凭证',
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='LedgerLeg',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('account', models.CharField(choices=[('commission_expense', '平台佣金费用'), ('leader_pending', '团长待结算(售后期内)'), ('leader_settleable', '团长可结算'), ('leader_payable', '团长应付(已审核)'), ('cash', '平台资金(已打款)')], max_length=24, verbose_name='科目')),
                ('amount_fen', models.BigIntegerField(help_text='正数贷记，负数借记', verbose_name='金额(分)')),
                ('kind', models.CharField(choices=[('accrue', '佣金计提'), ('mature', '售后期满'), ('reverse', '退款冲回'), ('settle', '结算审核'), ('pay', '结算打款')], max_length=16, verbose_name='类型')),
                ('occurred_at', models.DateTimeField(verbose_name='记账时间')),
                ('leader', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='groupbuy.groupleader', verbose_name='团长')),
                ('transaction', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='legs', to='groupbuy.ledgertransaction', verbose_name='凭证')),
            ],
            options={
                'verbose_name': '佣金账本分录',
                'verbose_name_plural': '佣金账本分录',
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='SettlementRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('run_no', models.CharField(max_length=40, unique=True, verbose_name='结算批次号')),
                ('period_start', models.DateTimeField(blank=True, null=True, verbose_name='周期开始')),
                ('period_end', models.DateTimeField(verbose_name='周期截止')),
                ('status', models.CharField(choices=[('draft', '待审核'), ('approved', '已审核'), ('paid', '已打款'), ('cancelled', '已作废')], default='draft', max_length=16, verbose_name='状态')),
                ('total_fen', models.BigIntegerField(default=0, verbose_name='合计(分)')),
                ('statement_count', models.PositiveIntegerField(default=0, verbose_name='结算单数')),
                ('created_by', models.CharField(max_length=150, verbose_name='创建人')),
                ('created_at', models.DateTimeField(verbose_name='创建时间')),
                ('approved_by', models.CharField(blank=True, max_length=150, verbose_name='审核人')),
                ('approved_at', models.DateTimeField(blank=True, null=True, verbose_name='审核时间')),
                ('cancelled_by', models.CharField(blank=True, max_length=150, verbose_name='作废人')),
                ('cancelled_at', models.DateTimeField(blank=True, null=True, verbose_name='作废时间')),
            ],
            options={
                'verbose_name': '佣金结算批次',
                'verbose_name_plural': '佣金结算批次',
                'ordering': ['-id'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'draft')), fields=('status',), name='groupbuy_settlement_one_draft')],
            },
        ),
        migrations.CreateModel(
            name='SettlementStatement',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('statement_no', models.CharField(max_length=40, unique=True, verbose_name='结算单号')),
                ('opening_fen', models.BigIntegerField(default=0, verbose_name='期初结转(分)')),
                ('matured_fen', models.BigIntegerField(default=0, verbose_name='本期可结算(分)')),
                ('reversed_fen', models.BigIntegerField(default=0, verbose_name='本期冲回(分)')),
                ('amount_fen', models.BigIntegerField(verbose_name='应结算(分)')),
                ('status', models.CharField(choices=[('draft', '待审核'), ('approved', '已审核'), ('paid', '已打款'), ('cancelled', '已作废')], default='draft', max_length=16, verbose_name='状态')),
                ('paid_at', models.DateTimeField(blank=True, null=True, verbose_name='打款时间')),
                ('paid_by', models.CharField(blank=True, max_length=150, verbose_name='打款操作人')),
                ('payment_ref', models.CharField(blank=True, max_length=64, verbose_name='打款流水号')),
                ('created_at', models.DateTimeField(verbose_name='创建时间')),
                ('leader', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='commission_statements', to='groupbuy.groupleader', verbose_name='团长')),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='statements', to='groupbuy.settlementrun', verbose_name='批次')),
            ],
            options={
                'verbose_name': '佣金结算单',
                'verbose_name_plural': '佣金结算单',
                'ordering': ['-id'],
            },
        ),
        migrations.AddField(
            model_name='ledgertransaction',
            name='statement',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='groupbuy.settlementstatement', verbose_name='结算单'),
        ),
        migrations.CreateModel(
            name='CommissionRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('depth', models.PositiveSmallIntegerField(help_text='1 = 下单顾客的团长，2 = 其推荐人', verbose_name='层级')),
                ('rate_bp', models.PositiveIntegerField(help_text='100 基点 = 1%', verbose_name='佣金率(基点)')),
                ('cap_fen', models.PositiveBigIntegerField(blank=True, help_text='本规则在一张订单上最多产生的佣金', null=True, verbose_name='每单上限(分)')),
                ('valid_from', models.DateTimeField(verbose_name='生效时间')),
                ('valid_until', models.DateTimeField(blank=True, null=True, verbose_name='失效时间')),
                ('note', models.CharField(blank=True, max_length=200, verbose_name='备注')),
                ('created_by', models.CharField(blank=True, max_length=150, verbose_name='创建人')),
                ('created_at', models.DateTimeField(verbose_name='创建时间')),
                ('updated_at', models.DateTimeField(verbose_name='更新时间')),
                ('category', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.category', verbose_name='类目')),
                ('level', models.ForeignKey(blank=True, help_text='留空表示所有等级', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='groupbuy.leaderlevel', verbose_name='团长等级')),
                ('product', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.product', verbose_name='商品')),
            ],
            options={
                'verbose_name': '佣金规则',
                'verbose_name_plural': '佣金规则',
                'ordering': ['depth', '-valid_from', '-id'],
                'constraints': [models.CheckConstraint(condition=models.Q(('product__isnull', False), ('category__isnull', False), _negated=True), name='groupbuy_rule_product_or_category'), models.CheckConstraint(condition=models.Q(('depth__gte', 1), ('depth__lte', 3)), name='groupbuy_rule_depth_range'), models.CheckConstraint(condition=models.Q(('rate_bp__lte', 10000)), name='groupbuy_rule_rate_range'), models.CheckConstraint(condition=models.Q(('valid_until__isnull', True), ('valid_until__gte', models.F('valid_from')), _connector='OR'), name='groupbuy_rule_valid_period')],
            },
        ),
        migrations.AddIndex(
            model_name='leaderorder',
            index=models.Index(fields=['leader', 'paid_at'], name='groupbuy_lorder_leader_paid'),
        ),
        migrations.AddIndex(
            model_name='leaderorder',
            index=models.Index(fields=['leader', 'pickup_status'], name='groupbuy_lorder_pickup'),
        ),
        migrations.AddConstraint(
            model_name='leaderorder',
            constraint=models.UniqueConstraint(fields=('leader', 'pickup_code'), name='groupbuy_leader_order_pickup_code'),
        ),
        migrations.AddConstraint(
            model_name='commissionaccrual',
            constraint=models.UniqueConstraint(fields=('leader_order', 'depth'), name='groupbuy_accrual_order_depth'),
        ),
        migrations.AddConstraint(
            model_name='commissionaccrual',
            constraint=models.CheckConstraint(condition=models.Q(('reversed_fen__lte', models.F('amount_fen'))), name='groupbuy_accrual_reversed_not_above'),
        ),
        migrations.AddIndex(
            model_name='ledgerleg',
            index=models.Index(fields=['leader', 'account', 'occurred_at'], name='groupbuy_leg_leader_acct'),
        ),
        migrations.AddConstraint(
            model_name='ledgerleg',
            constraint=models.CheckConstraint(condition=models.Q(('amount_fen', 0), _negated=True), name='groupbuy_leg_not_zero'),
        ),
        migrations.AddConstraint(
            model_name='settlementstatement',
            constraint=models.UniqueConstraint(fields=('run', 'leader'), name='groupbuy_statement_run_leader'),
        ),
        migrations.AddConstraint(
            model_name='settlementstatement',
            constraint=models.CheckConstraint(condition=models.Q(('amount_fen__gt', 0)), name='groupbuy_statement_amount_positive'),
        ),
    ]
