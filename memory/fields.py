"""An embedding column that is pgvector `vector` on PostgreSQL and float32 bytes on SQLite.

The dimension is not fixed in the column type: each row records its model and dimension, and
PostgreSQL has one partial HNSW index per dimension (see the migration), so several embedding
models can live side by side.

numpy is imported when a vector is first converted, not with the models: it took ~45 ms of every process's start.
"""

from django.db import models


class EmbeddingField(models.Field):
    description = "Embedding vector (pgvector on PostgreSQL, float32 bytes elsewhere)"

    def db_type(self, connection):
        return "vector" if connection.vendor == "postgresql" else "blob"

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        import numpy as np

        vec = np.asarray(value, dtype=np.float32)
        if connection.vendor == "postgresql":
            return "[" + ",".join(repr(float(x)) for x in vec) + "]"
        return vec.tobytes()

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        import numpy as np

        if isinstance(value, (bytes, memoryview)):
            return np.frombuffer(bytes(value), dtype=np.float32)
        if isinstance(value, str):
            return np.array(value.strip("[]").split(","), dtype=np.float32)
        return np.asarray(value, dtype=np.float32)

    def to_python(self, value):
        import numpy as np

        if value is None or isinstance(value, np.ndarray):
            return value
        return self.from_db_value(value, None, None)
