from django.db import migrations

from memory.vectors import ensure_vector_index

# Dimensions of the embedding models we offer; others get their index on first insert.
DIMS = (384, 1536)


def create_indexes(apps, schema_editor):
    for dim in DIMS:
        ensure_vector_index(schema_editor.connection, dim)


class Migration(migrations.Migration):
    dependencies = [("memory", "0001_initial")]
    operations = [migrations.RunPython(create_indexes, migrations.RunPython.noop)]
