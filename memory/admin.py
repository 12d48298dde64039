"""Admin for memory. Block edits go through memory.actions, so versions and history apply here too."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from ade.errors import DomainError

from .actions import Actor, create_block, update_block
from .models import TEXT_FIELDS, Archive, Block, BlockHistory, File, Folder, Passage, normalize_newlines


class BlockForm(forms.ModelForm):
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Block
        fields = ("organization", "label", "value", "limit", "description", "read_only", "hidden", "metadata", "tags")
        widgets = {"value": forms.Textarea(attrs={"rows": 12, "class": "vLargeTextField engram-counted"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version
            self.fields["organization"].disabled = True

    def clean(self):
        data = super().clean()
        if self.instance.pk and data.get("expected_version") not in (None, self.instance.version):
            raise forms.ValidationError(
                f"Someone else changed this block (now version {self.instance.version}). Reload to see their edit."
            )
        for field in TEXT_FIELDS:  # the browser's CRLF would count twice against the limit
            if field in data:
                data[field] = normalize_newlines(data[field])
        value, limit = data.get("value") or "", data.get("limit") or self.instance.limit
        if len(value) > limit:
            self.add_error("value", f"{len(value)} characters is over the limit of {limit}.")
        return data


PREVIEW = 300  # characters of each old and new value shown in a block's history


class BlockHistoryInline(admin.TabularInline):
    model = BlockHistory
    verbose_name, verbose_name_plural = "change", "history"
    extra = 0
    can_delete = False
    fields = ("version", "actor_type", "actor_name", "tool_name", "created_at", "change")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="change")
    def change(self, row):
        return ", ".join(
            f"{k}: {str(row.previous.get(k))[:PREVIEW]!r} → {str(v)[:PREVIEW]!r}" for k, v in row.new.items()
        )


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    form = BlockForm
    list_display = ("label", "id", "organization", "chars", "read_only", "version", "updated_at")
    list_filter = ("read_only", "hidden", "organization")
    search_fields = ("label", "value", "id")
    readonly_fields = ("version",)
    inlines = [BlockHistoryInline]

    class Media:
        js = ("admin_ext/char_counter.js",)

    @admin.display(description="chars / limit")
    def chars(self, block):
        over = len(block.value) > block.limit
        return format_html(
            '<span style="color:{}">{} / {}</span>', "#b00" if over else "inherit", len(block.value), block.limit
        )

    def save_model(self, request, obj, form, change):
        actor = Actor.user(request.user, "admin")
        data = form.cleaned_data
        try:
            if change:
                changes = {f: data[f] for f in form.changed_data if f in Block.EDITABLE}
                saved = update_block(
                    obj.organization, obj.pk, changes, actor=actor, expected_version=data.get("expected_version")
                )
            else:
                saved = create_block(
                    data["organization"], actor=actor, **{f: data[f] for f in Block.EDITABLE if f in data}
                )
        except DomainError as exc:
            messages.error(request, exc.message)
            saved = Block.objects.get(pk=obj.pk) if obj.pk else obj
        obj.__dict__.update(saved.__dict__)


@admin.register(Passage)
class PassageAdmin(admin.ModelAdmin):
    list_display = ("short_text", "archive", "folder", "embedding_model", "created_at")
    list_filter = ("embedding_model",)
    search_fields = ("text", "id")
    exclude = ("embedding",)
    readonly_fields = ("embedding_model", "embedding_dim")

    @admin.display(description="text")
    def short_text(self, passage):
        return passage.text[:80]


@admin.register(Archive)
class ArchiveAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "organization", "created_at")
    search_fields = ("name", "id")


class FileInline(admin.TabularInline):
    model = File
    extra = 0
    fields = ("file_name", "file_type", "file_size", "processing_status", "progress", "error_message")
    readonly_fields = fields


@admin.register(Folder)
class FolderAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "organization", "created_at")
    search_fields = ("name", "id")
    inlines = [FileInline]
