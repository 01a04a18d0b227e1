"""Payment providers by their Chinese names: the order's 支付方式 gets choices, and the
timeline notes already written as 支付成功（sandbox） read 支付成功（沙箱支付） (the note is
stored text, shown as written, so the stored rows are rewritten once, and their actor too)."""

from typing import Any

from django.db import migrations, models

LABELS = {"wechatpay": "微信支付", "alipay": "支付宝", "sandbox": "沙箱支付"}


def notes_in_chinese(apps: Any, schema_editor: Any) -> None:
    OrderEvent = apps.get_model("orders", "OrderEvent")
    for name, label in LABELS.items():
        paid = OrderEvent.objects.filter(note=f"支付成功（{name}）")
        paid.filter(actor=name).update(actor=label)
        paid.update(note=f"支付成功（{label}）")


def notes_by_name(apps: Any, schema_editor: Any) -> None:
    OrderEvent = apps.get_model("orders", "OrderEvent")
    for name, label in LABELS.items():
        paid = OrderEvent.objects.filter(note=f"支付成功（{label}）")
        paid.filter(actor=label).update(actor=name)
        paid.update(note=f"支付成功（{name}）")


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_address"),
    ]

    operations = [
        migrations.AlterField(
            model_name="order",
            name="payment_provider",
            field=models.CharField(
                blank=True,
                choices=[("wechatpay", "微信支付"), ("alipay", "支付宝"), ("sandbox", "沙箱支付"), ("import", "历史导入")],
                max_length=16,
                verbose_name="支付方式",
            ),
        ),
        migrations.RunPython(notes_in_chinese, notes_by_name),
    ]
