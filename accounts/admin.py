from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import ApiKey, AuditEntry, Membership, Organization, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "created_at")
    search_fields = ("name", "id")


class MembershipInline(admin.TabularInline):
    """A user's organizations and roles (a user added here needs one to do anything in their organization)."""

    model = Membership
    extra = 1
    fields = ("organization", "role", "last_active_at")
    readonly_fields = ("last_active_at",)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: audit entries are written by the actions that make the changes."""

    list_display = ("created_at", "organization", "actor_name", "action", "object_id", "summary")
    list_filter = ("action", "organization")
    search_fields = ("actor_name", "object_id", "summary")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class EngramUserAdmin(UserAdmin):
    inlines = [MembershipInline]
    list_display = ("username", "organization", "is_staff", "is_active")
    list_filter = ("organization", "is_staff", "is_active")
    fieldsets = UserAdmin.fieldsets + (("Engram", {"fields": ("organization",)}),)
    add_fieldsets = UserAdmin.add_fieldsets + (("Engram", {"fields": ("organization",)}),)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created with `manage.py createapikey` or on the API keys page (shown once); here they are listed
    and revoked. The hash is never shown."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = ("prefix", "user", "created_at", "last_used_at")
    exclude = ("hashed_key",)
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        from django.utils import timezone

        queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
