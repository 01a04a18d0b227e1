"""A presale may be launched in a live session as a product card (GB-4): the session's code."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("groupbuy", "0005_presale")]

    operations = [
        migrations.AddField(
            model_name="presale",
            name="live_session_code",
            field=models.CharField(
                blank=True, db_index=True, max_length=40, verbose_name="直播场次"
            ),
        ),
    ]
