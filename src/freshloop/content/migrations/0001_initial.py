from django.db import migrations


class Migration(migrations.Migration):
    """The app's first migration; each feature's tables follow in their own migration."""

    initial = True
    dependencies: list[tuple[str, str]] = []
    operations: list[migrations.operations.base.Operation] = []
