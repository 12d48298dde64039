"""Agent files (`.af`, letta-api §5): export an agent with what it needs, import one as new agents.

The document is Letta's v2 "AgentFileSchema": lists of agents, groups, blocks, files, sources (folders), tools and
MCP servers, cross-referenced by file-local ids `<prefix>-<n>`. Export replaces database ids by file-local ones and
wipes secret values; import checks the whole document first, then creates everything in one transaction with new
ids: custom tools are upserted by name, built-in tools map to this server's, blocks are always new, folders get a
fresh name on collision, agents get a `_copy` suffix unless told otherwise. Older v1 files are refused.
"""

from agents.agentfile.document import parse_agent_file
from agents.agentfile.exporter import export_agent
from agents.agentfile.importer import import_agent_file

__all__ = ["export_agent", "import_agent_file", "parse_agent_file"]
