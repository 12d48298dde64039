"""Full-text search over passages (memory/fulltext.py): a generated tsvector column with a GIN index on
PostgreSQL; an FTS5 table kept in step by triggers on SQLite."""

from django.db import migrations

PG_FORWARD = [
    "ALTER TABLE memory_passage ADD COLUMN text_tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX memory_passage_text_tsv ON memory_passage USING gin (text_tsv)",
]
PG_REVERSE = ["DROP INDEX IF EXISTS memory_passage_text_tsv", "ALTER TABLE memory_passage DROP COLUMN text_tsv"]
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE memory_passage_fts USING fts5(text, content='memory_passage', content_rowid='rowid', "
    "tokenize='porter unicode61')",
    "CREATE TRIGGER memory_passage_fts_ai AFTER INSERT ON memory_passage BEGIN "
    "INSERT INTO memory_passage_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "CREATE TRIGGER memory_passage_fts_ad AFTER DELETE ON memory_passage BEGIN "
    "INSERT INTO memory_passage_fts(memory_passage_fts, rowid, text) VALUES ('delete', old.rowid, old.text); END",
    "CREATE TRIGGER memory_passage_fts_au AFTER UPDATE OF text ON memory_passage BEGIN "
    "INSERT INTO memory_passage_fts(memory_passage_fts, rowid, text) VALUES ('delete', old.rowid, old.text); "
    "INSERT INTO memory_passage_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "INSERT INTO memory_passage_fts(memory_passage_fts) VALUES ('rebuild')",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS memory_passage_fts_ai",
    "DROP TRIGGER IF EXISTS memory_passage_fts_ad",
    "DROP TRIGGER IF EXISTS memory_passage_fts_au",
    "DROP TABLE IF EXISTS memory_passage_fts",
]


def _run(statements):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        for sql in statements.get(vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("memory", "0002_hnsw_indexes")]
    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_REVERSE, "sqlite": SQLITE_REVERSE}),
        )
    ]
