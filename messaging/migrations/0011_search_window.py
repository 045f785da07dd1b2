"""Message search reads a person's newest direct messages first (`selectors.message_search`):
what they received and what they sent, each newest first, are indexed as such. Those two
indexes lead with `receiver` and `sender`, as `msg_pair_rev_time` and `msg_pair_time` do,
so the columns' own indexes go: a send still updates as many indexes as before.

On SQLite, altering the two columns rebuilds the message table, which drops the search
index's triggers (migration 0009): the last step makes them again, as 0010 does.
"""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

groups = importlib.import_module("messaging.migrations.0010_groups")


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0010_groups'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Going back, the columns' rebuild drops the triggers too: this step, last then,
        # makes them again.
        migrations.RunPython(migrations.RunPython.noop, groups.restore_search_triggers),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(condition=models.Q(('receiver__isnull', False)), fields=['receiver', '-timestamp', '-id'], name='msg_received_time'),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(condition=models.Q(('group__isnull', True)), fields=['sender', '-timestamp', '-id'], name='msg_sent_time'),
        ),
        migrations.AlterField(
            model_name='message',
            name='receiver',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='received_messages', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='message',
            name='sender',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='sent_messages', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(groups.restore_search_triggers, migrations.RunPython.noop),
    ]
