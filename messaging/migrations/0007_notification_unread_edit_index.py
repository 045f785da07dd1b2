"""Reading a conversation reads the partner's edit notifications too: their index."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0006_username_prefix_index"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(
                condition=models.Q(("kind", "edit"), ("read", False)),
                fields=["user", "actor"],
                name="notif_unread_edit",
            ),
        ),
    ]
