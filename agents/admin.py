from django.contrib import admin

from agents.models import Agent, AgentBlock, AgentTool, Message, Run, Step


class AgentBlockInline(admin.TabularInline):
    model = AgentBlock
    extra = 0
    fields = ("block", "label", "chars", "position")
    readonly_fields = ("label", "chars")
    raw_id_fields = ("block",)

    @admin.display(description="label")
    def label(self, link):
        return link.block.label

    @admin.display(description="chars / limit")
    def chars(self, link):
        return f"{len(link.block.value)} / {link.block.limit}"


class AgentToolInline(admin.TabularInline):
    model = AgentTool
    extra = 0
    raw_id_fields = ("tool",)


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "agent_type", "organization", "created_at")
    list_filter = ("agent_type", "organization")
    search_fields = ("name", "id", "description")
    inlines = [AgentBlockInline, AgentToolInline]
    exclude = ("secrets", "message_ids")
    readonly_fields = ("version", "last_run_completion", "last_stop_reason")


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    can_delete = False
    fields = ("id", "model", "status", "stop_reason", "prompt_tokens", "completion_tokens", "llm_request_ns", "step_ns")
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "agent", "status", "stop_reason", "created_at", "completed_at")
    list_filter = ("status", "stop_reason")
    search_fields = ("id", "agent__name")
    readonly_fields = [f.name for f in Run._meta.fields]
    inlines = [StepInline]

    def has_add_permission(self, request):
        return False


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    list_display = ("id", "agent", "run", "model", "status", "total_tokens", "created_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in Step._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "agent", "role", "short", "created_at")
    list_filter = ("role",)
    search_fields = ("id", "agent__name")
    readonly_fields = [f.name for f in Message._meta.fields]

    @admin.display(description="text")
    def short(self, message):
        return message.text[:80]

    def has_add_permission(self, request):
        return False
