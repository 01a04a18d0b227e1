import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0007_merge_evidence_detail"),
    ]

    operations = [
        migrations.AlterField(
            model_name="identifier",
            name="person",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="identifiers",
                to="identity.person",
                verbose_name="用户",
            ),
        ),
        migrations.AlterField(
            model_name="mergerecord",
            name="from_person",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="merged_away_records",
                to="identity.person",
                verbose_name="被并入的用户",
            ),
        ),
        migrations.AlterField(
            model_name="mergerecord",
            name="into_person",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="merge_records",
                to="identity.person",
                verbose_name="并入到",
            ),
        ),
    ]
