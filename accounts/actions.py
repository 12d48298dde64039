"""Organizations, users and API keys."""

from django.db import transaction
from django.utils import timezone

from ade.errors import Invalid, NotFound

from .models import ApiKey, Organization, User, hash_key


def create_api_key(user: User, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and never stored."""
    raw = ApiKey.generate()
    key = ApiKey.objects.create(user=user, name=name[:200], prefix=raw[:16], hashed_key=hash_key(raw))
    return key, raw


def revoke_api_key(user: User, key_id: str) -> ApiKey:
    key = ApiKey.objects.filter(id=key_id, user=user).first()
    if key is None:
        raise NotFound("API key not found")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def user_for_key(raw: str) -> User | None:
    """The active user behind a raw key, or None."""
    if not raw:
        return None
    key = ApiKey.objects.select_related("user__organization").filter(hashed_key=hash_key(raw), revoked_at=None).first()
    if key is None or not key.user.is_active:
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key.user


@transaction.atomic
def create_user(
    username: str,
    password: str,
    *,
    organization: Organization | None = None,
    org_name: str = "",
    is_staff: bool = False,
) -> User:
    if User.objects.filter(username=username).exists():
        raise Invalid(f"username {username!r} is taken", field="username")
    if organization is None:
        organization = Organization.objects.create(name=org_name or f"{username}'s organization")
    user = User(username=username, organization=organization, is_staff=is_staff, is_superuser=is_staff)
    user.set_password(password)
    user.save()
    return user
