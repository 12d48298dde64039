from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import ApiKey, Organization, User


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "created_at")
    search_fields = ("name", "id")


@admin.register(User)
class EngramUserAdmin(UserAdmin):
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
