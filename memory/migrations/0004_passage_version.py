"""Passage.version (bumped by every edit, so a stale edit is refused).

SQLite adds a non-null column by rebuilding the table, which drops its triggers and renumbers its rowids: the
full-text triggers of 0003 are created again and the FTS5 index rebuilt after it (in both directions)."""

from importlib import import_module

from django.db import migrations, models

FULLTEXT = import_module("memory.migrations.0003_passage_fulltext")
TRIGGERS = [sql for sql in FULLTEXT.SQLITE_FORWARD if not sql.startswith("CREATE VIRTUAL TABLE")]


def restore_fulltext(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for sql in FULLTEXT.SQLITE_REVERSE[:3]:  # the triggers, if the rebuild kept any
        schema_editor.execute(sql)
    for sql in TRIGGERS:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("memory", "0003_passage_fulltext")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_fulltext),
        migrations.AddField(model_name="passage", name="version", field=models.PositiveIntegerField(default=1)),
        migrations.RunPython(restore_fulltext, migrations.RunPython.noop),
    ]
