import json

from django.contrib import admin
from django.utils.html import format_html

from .models import Tool


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = ("name", "tool_type", "organization", "updated_at")
    list_filter = ("tool_type", "organization")
    search_fields = ("name", "description", "id")
    readonly_fields = ("schema_preview",)
    exclude = ("json_schema", "args_json_schema")

    @admin.display(description="JSON schema (generated from the source)")
    def schema_preview(self, tool):
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(tool.json_schema, indent=2))
