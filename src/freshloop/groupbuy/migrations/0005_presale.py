"""Tables of presale (GB-4): presales and buyers' purchases (deposit + balance orders)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("groupbuy", "0004_group_deals")]

    operations = [
        migrations.CreateModel(
            name='Presale',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('presale_no', models.CharField(max_length=40, unique=True, verbose_name='预售编号')),
                ('name', models.CharField(max_length=60, verbose_name='预售名称')),
                ('image_url', models.CharField(blank=True, max_length=300, verbose_name='卡片图片')),
                ('quantity', models.PositiveIntegerField(verbose_name='预售数量')),
                ('units_taken', models.PositiveIntegerField(default=0, verbose_name='已付定金件数')),
                ('list_price_fen', models.PositiveIntegerField(verbose_name='原价（分）')),
                ('price_fen', models.PositiveIntegerField(verbose_name='预售价（分）')),
                ('deposit_fen', models.PositiveIntegerField(verbose_name='定金（分）')),
                ('deposit_worth_fen', models.PositiveIntegerField(help_text='定金膨胀后可抵', verbose_name='定金抵扣（分）')),
                ('per_person_limit', models.PositiveSmallIntegerField(default=1, verbose_name='每人限购')),
                ('deposit_refundable', models.BooleanField(default=False, help_text='否：尾款期结束未付尾款，定金不退', verbose_name='定金可退')),
                ('deposit_starts_at', models.DateTimeField(verbose_name='定金开始')),
                ('deposit_ends_at', models.DateTimeField(verbose_name='定金截止')),
                ('balance_starts_at', models.DateTimeField(verbose_name='尾款开始')),
                ('balance_ends_at', models.DateTimeField(verbose_name='尾款截止')),
                ('delivery_from', models.DateField(verbose_name='发货开始日期')),
                ('delivery_to', models.DateField(verbose_name='发货截止日期')),
                ('status', models.CharField(choices=[('draft', '未开始'), ('deposit_open', '定金支付中'), ('balance_open', '尾款支付中'), ('ended', '已结束'), ('cancelled', '已取消')], default='draft', max_length=16, verbose_name='状态')),
                ('block_ref', models.CharField(max_length=64, verbose_name='库存整批预留')),
                ('cancel_reason', models.CharField(blank=True, max_length=200, verbose_name='取消原因')),
                ('created_by', models.CharField(max_length=150, verbose_name='创建人')),
                ('created_at', models.DateTimeField(verbose_name='创建时间')),
                ('updated_at', models.DateTimeField(verbose_name='更新时间')),
                ('ended_at', models.DateTimeField(blank=True, null=True, verbose_name='结束时间')),
                ('settled_at', models.DateTimeField(blank=True, null=True, verbose_name='结算完成时间')),
                ('sku', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.sku', verbose_name='SKU')),
            ],
            options={
                'verbose_name': '预售',
                'verbose_name_plural': '预售',
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='PresalePurchase',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('purchase_no', models.CharField(max_length=40, unique=True, verbose_name='预售单号')),
                ('quantity', models.PositiveSmallIntegerField(verbose_name='件数')),
                ('deposit_unit_fen', models.PositiveIntegerField(verbose_name='定金单价（分）')),
                ('worth_unit_fen', models.PositiveIntegerField(verbose_name='定金抵扣单价（分）')),
                ('balance_unit_fen', models.PositiveIntegerField(verbose_name='尾款单价（分）')),
                ('deposit_order_no', models.CharField(max_length=40, unique=True, verbose_name='定金订单')),
                ('balance_order_no', models.CharField(blank=True, db_index=True, max_length=40, verbose_name='尾款订单')),
                ('status', models.CharField(choices=[('deposit_pending', '待付定金'), ('deposit_paid', '已付定金'), ('balance_paid', '已付尾款'), ('cancelled', '已取消'), ('forfeited', '定金不退'), ('refunded', '定金已退')], default='deposit_pending', max_length=16, verbose_name='状态')),
                ('deposit_paid_at', models.DateTimeField(blank=True, null=True, verbose_name='定金支付时间')),
                ('balance_paid_at', models.DateTimeField(blank=True, null=True, verbose_name='尾款支付时间')),
                ('closed_at', models.DateTimeField(blank=True, null=True, verbose_name='结束时间')),
                ('created_at', models.DateTimeField(verbose_name='创建时间')),
                ('person', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='identity.person', verbose_name='买家')),
                ('presale', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='purchases', to='groupbuy.presale', verbose_name='预售')),
            ],
            options={
                'verbose_name': '预售订单',
                'verbose_name_plural': '预售订单',
                'ordering': ['-id'],
            },
        ),
        migrations.AddIndex(
            model_name='presale',
            index=models.Index(fields=['status', 'balance_ends_at'], name='groupbuy_presale_due'),
        ),
        migrations.AddConstraint(
            model_name='presale',
            constraint=models.CheckConstraint(condition=models.Q(('units_taken__lte', models.F('quantity'))), name='groupbuy_presale_not_oversold'),
        ),
        migrations.AddIndex(
            model_name='presalepurchase',
            index=models.Index(fields=['presale', 'status'], name='groupbuy_presale_purchase_st'),
        ),
        migrations.AddIndex(
            model_name='presalepurchase',
            index=models.Index(fields=['person', 'created_at'], name='groupbuy_presale_purchase_p'),
        ),
    ]
