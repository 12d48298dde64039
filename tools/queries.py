"""Access rules for tools: a user sees the tools of their organization."""

from ade.errors import NotFound

from .models import Tool


def tools_for(user):
    return Tool.objects.filter(organization_id=user.organization_id)


def get_tool_for(user, tool_id: str, *, for_update: bool = False) -> Tool:
    qs = tools_for(user)
    if for_update:
        qs = qs.select_for_update()
    tool = qs.filter(id=tool_id).first()
    if tool is None:
        raise NotFound("Tool not found")
    return tool
