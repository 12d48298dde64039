"""Organizations, users and API keys."""

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from ade.errors import Invalid, NotFound
from ade.prepared import Prepared, attnames, row_object

from . import audit
from .models import ApiKey, Membership, Organization, Role, User, hash_key
from .permissions import allows, remember_role, touch_membership


def create_api_key(user: User, name: str = "", *, read_only: bool = False) -> tuple[ApiKey, str]:
    """Create a key acting in the user's current organization with their role there (or read-only); the raw key
    is returned once and never stored."""
    raw = ApiKey.generate()
    with transaction.atomic():
        key = ApiKey.objects.create(
            user=user,
            organization_id=user.organization_id,
            read_only=read_only,
            name=name[:200],
            prefix=raw[:16],
            hashed_key=hash_key(raw),
        )
        summary = f"{key.name or key.prefix} for {user.username}" + (" (read-only)" if read_only else "")
        audit.record(user.organization_id, user, "api_key.create", object_id=key.id, summary=summary)
    return key, raw


def revoke_api_key(user: User, key_id: str) -> ApiKey:
    """Revoke one of the user's own keys, or, for admins, any key acting in their current organization."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(id=key_id).select_related("user").first()
        mine = key is not None and key.user_id == user.pk
        theirs = key is not None and key.organization_id == user.organization_id and allows(user, "manage")
        if not (mine or theirs):
            raise NotFound("API key not found")
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            audit.record(
                key.organization_id or user.organization_id,
                user,
                "api_key.revoke",
                object_id=key.id,
                summary=f"{key.name or key.prefix} of {key.user.username}",
            )
    return key


KEY_FIELDS, USER_FIELDS, ORG_FIELDS = attnames(ApiKey), attnames(User), attnames(Organization)


def _key_lookup(hashed: str):
    """The unrevoked key with its user, its organization and the user's role there, in one row."""
    # No ORDER BY: the hash and (user, organization) are unique (SQLite sorted the one row in a temporary b-tree).
    role = Membership.objects.filter(user=OuterRef("user"), organization=OuterRef("organization")).order_by()
    return (
        ApiKey.objects.filter(hashed_key=hashed, revoked_at=None)
        .order_by()
        .annotate(member_role=Subquery(role.values("role")[:1]))
        .values_list(
            *KEY_FIELDS,
            *(f"user__{name}" for name in USER_FIELDS),
            *(f"organization__{name}" for name in ORG_FIELDS),
            "member_role",
        )[:1]
    )


KEY_LOOKUP = Prepared(_key_lookup)  # every API request runs it: compiled once per process


def user_for_key(raw: str) -> User | None:
    """The active user behind a raw key, acting in the key's organization (`user.organization` is set to it for
    this request and `user.api_key` to the key), or None when the key is unknown, revoked, or its user is no longer
    a member of that organization."""
    if not raw:
        return None
    found = KEY_LOOKUP.rows(hash_key(raw))
    if not found:
        return None
    row, width, users = found[0], len(KEY_FIELDS), len(USER_FIELDS)
    key = row_object(ApiKey, KEY_LOOKUP.using, KEY_FIELDS, row[:width])
    user = row_object(User, KEY_LOOKUP.using, USER_FIELDS, row[width : width + users])
    organization = row_object(Organization, KEY_LOOKUP.using, ORG_FIELDS, row[width + users : -1])
    key.role = row[-1]
    if not user.is_active or key.role is None:
        return None
    key.user = user
    user.organization = key.organization = organization  # not saved: the key's organization, for this request
    user.api_key = key
    remember_role(user, key.organization_id, key.role)  # read in the same query as the key
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        touch_membership(user)
    return user


@transaction.atomic
def create_user(
    username: str,
    password: str,
    *,
    organization: Organization | None = None,
    org_name: str = "",
    is_staff: bool = False,
    role: str | None = None,
    email: str = "",
) -> User:
    """A user in `organization` with `role` (default: owner if it has none yet, else admin), or the owner of a new
    organization. People joining
    through the ADE come in by invitation (accounts.members)."""
    if User.objects.filter(username=username).exists():
        raise Invalid(f"username {username!r} is taken", field="username")
    if organization is None:
        organization = Organization.objects.create(name=org_name or f"{username}'s organization")
        role = role or Role.OWNER
    user = User(username=username, email=email, organization=organization, is_staff=is_staff, is_superuser=is_staff)
    user.set_password(password)
    user.save()
    if role is None:  # the first member of an organization owns it
        role = (
            Role.ADMIN if Membership.objects.filter(organization=organization, role=Role.OWNER).exists() else Role.OWNER
        )
    Membership.objects.get_or_create(organization=organization, user=user, defaults={"role": role})
    return user
