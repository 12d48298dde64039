import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from ade.ids import PrefixedIdField

KEY_PREFIX = "sk-engram-"


class Organization(models.Model):
    id = PrefixedIdField("org")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class User(AbstractUser):
    id = PrefixedIdField("user")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="users", null=True)

    def save(self, *args, **kwargs):
        # Every user works inside an organization; `createsuperuser` and the admin's "add user" leave it empty, and
        # such a user's first create failed with a 500. They get one of their own (also on their next login).
        if self.organization_id is None:
            self.organization = Organization.objects.create(name=f"{self.username}'s organization")
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "organization"}
        super().save(*args, **kwargs)


def hash_key(raw: str) -> str:
    # Keys are 256-bit random strings, so a fast hash is safe; no salt needed.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    id = PrefixedIdField("apikey")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=24, help_text="The first characters, shown to recognise a key.")
    hashed_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate() -> str:
        return KEY_PREFIX + secrets.token_urlsafe(32)
