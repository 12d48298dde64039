import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from ade.ids import PrefixedIdField

KEY_PREFIX = "sk-engram-"


class Role(models.TextChoices):
    """Roles in an organization, weakest first (see accounts/permissions.py for what each may do)."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"
    OWNER = "owner"


class Organization(models.Model):
    id = PrefixedIdField("org")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    viewers_can_chat = models.BooleanField(default=False, help_text="Viewers may talk to agents in the simulator.")

    def __str__(self):
        return self.name


class User(AbstractUser):
    id = PrefixedIdField("user")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="users", null=True)

    # `organization` is the user's CURRENT organization (the header's switcher changes it); what they may do in it
    # comes from their Membership there, and without one they may do nothing in it.

    def save(self, *args, **kwargs):
        # Every user works inside an organization; `createsuperuser` and the admin's "add user" leave it empty, and
        # such a user's first create failed with a 500. They get one of their own (also on their next login).
        own_org = self.organization_id is None
        if own_org:
            self.organization = Organization.objects.create(name=f"{self.username}'s organization")
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "organization"}
        super().save(*args, **kwargs)
        if own_org:
            Membership.objects.get_or_create(organization=self.organization, user=self, defaults={"role": Role.OWNER})


class Membership(models.Model):
    """A user's role in one organization. A user may belong to several."""

    id = PrefixedIdField("member")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)
    last_active_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_org")]
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"


class Invitation(models.Model):
    """A one-time link to join an organization with a role. Only the hash of its token is stored."""

    id = PrefixedIdField("invite")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


def hash_key(raw: str) -> str:
    # Keys are 256-bit random strings, so a fast hash is safe; no salt needed.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    id = PrefixedIdField("apikey")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    # The organization the key acts in (the user's current one when it was made), with the user's role there.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys", null=True)
    read_only = models.BooleanField(default=False, help_text="The key may only read, whatever the user's role.")
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


class AuditEntry(models.Model):
    """One change in an organization: who, what, when. Append-only: rows are written by the action that makes the
    change, inside its transaction (accounts.audit.record), and never updated or deleted through the ORM."""

    id = PrefixedIdField("audit")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="audit_entries")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_type = models.CharField(max_length=16)  # user | api_key | agent | system
    actor_user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_id = models.CharField(max_length=64, blank=True)  # the agent's id for memory tools
    actor_name = models.CharField(max_length=200, blank=True)  # as it was then (users and keys get renamed)
    action = models.CharField(max_length=64, db_index=True)  # "<object_type>.<verb>", e.g. block.update
    object_type = models.CharField(max_length=32, db_index=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    summary = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="audit_org_time")]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit entries are append-only")
