"""Public ids are `<prefix>-<uuid4>` strings, as on the Letta wire."""

import re
import uuid

from django.db import models

_UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def is_valid_id(prefix: str, value: str) -> bool:
    return bool(re.fullmatch(f"{re.escape(prefix)}-{_UUID4}", value or ""))


class PrefixedIdField(models.CharField):
    """A primary key that generates `<prefix>-<uuid4>`."""

    def __init__(self, prefix: str = "", *args, **kwargs):
        self.prefix = prefix
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if not value:
            value = new_id(self.prefix)
            setattr(model_instance, self.attname, value)
        return value

    def get_default(self):
        return new_id(self.prefix)
