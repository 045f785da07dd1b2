"""Usernames that look alike are one name: `UsernameKey`, one row per user, backfilled.

Names registered before the rule may already look alike (SQLite compared letter case
in ASCII only; nothing compared look-alike characters). They all stay: the earliest
account keeps the plain keys, so nobody new can take a look-alike of it, and each
later one keeps its keys marked with its id (`<digest>:<id>`), unique and never equal
to a new name's.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def backfill(apps, schema_editor):
    from messaging.services import username_keys

    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    username_key = apps.get_model("messaging", "UsernameKey")
    seen: tuple[set[str], set[str]] = (set(), set())
    rows = []
    users = user_model.objects.order_by("date_joined", "pk").values_list("pk", "username")
    for pk, username in users.iterator(chunk_size=2000):
        keys = []
        for key, taken in zip(username_keys(username), seen, strict=True):
            keys.append(f"{key}:{pk}" if key in taken else key)
            taken.add(key)
        rows.append(username_key(user_id=pk, folded=keys[0], skeleton=keys[1]))
        if len(rows) >= 2000:
            username_key.objects.bulk_create(rows)
            rows = []
    username_key.objects.bulk_create(rows)


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0004_ended_login"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="UsernameKey",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="username_key",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("folded", models.CharField(max_length=96, unique=True)),
                ("skeleton", models.CharField(max_length=96, unique=True)),
            ],
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
    ]
