# Product images become uploaded files (issue #14 part 3): the URL column gives way to the cleaned
# original and its 400/1080 px variants; pictures may belong to one SKU.

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_product_allergens_product_certifications_and_more"),
    ]

    operations = [
        migrations.RemoveField(model_name="productimage", name="url"),
        migrations.RemoveField(model_name="productimage", name="caption"),
        migrations.AddField(
            model_name="productimage",
            name="sku",
            field=models.ForeignKey(
                blank=True,
                help_text="留空表示整个商品通用",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="images",
                to="catalog.sku",
                verbose_name="SKU",
            ),
        ),
        migrations.AddField(
            model_name="productimage",
            name="alt",
            field=models.CharField(
                blank=True, help_text="读屏软件朗读的文字", max_length=120, verbose_name="图片说明"
            ),
        ),
        migrations.AddField(
            model_name="productimage",
            name="original",
            field=models.FileField(default="", max_length=255, upload_to="", verbose_name="原图"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="productimage",
            name="webp_400",
            field=models.FileField(
                default="", max_length=255, upload_to="", verbose_name="WebP 400px"
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="productimage",
            name="webp_1080",
            field=models.FileField(
                default="", max_length=255, upload_to="", verbose_name="WebP 1080px"
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="productimage",
            name="jpeg_1080",
            field=models.FileField(
                default="", max_length=255, upload_to="", verbose_name="JPEG 1080px"
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="productimage",
            name="width",
            field=models.PositiveIntegerField(default=0, verbose_name="宽(px)"),
        ),
        migrations.AddField(
            model_name="productimage",
            name="height",
            field=models.PositiveIntegerField(default=0, verbose_name="高(px)"),
        ),
        migrations.AddField(
            model_name="productimage",
            name="created_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, verbose_name="上传时间"
            ),
            preserve_default=False,
        ),
    ]
