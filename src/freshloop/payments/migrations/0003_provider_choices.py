from django.db import migrations, models

PROVIDERS = [("wechatpay", "微信支付"), ("alipay", "支付宝"), ("sandbox", "沙箱支付"), ("import", "历史导入")]


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_payment_query_and_platform_certificates"),
    ]

    operations = [
        migrations.AlterField(
            model_name="payment",
            name="provider",
            field=models.CharField(choices=PROVIDERS, max_length=16, verbose_name="支付渠道"),
        ),
        migrations.AlterField(
            model_name="paymentnotificationlog",
            name="provider",
            field=models.CharField(choices=PROVIDERS, max_length=16, verbose_name="支付渠道"),
        ),
    ]
