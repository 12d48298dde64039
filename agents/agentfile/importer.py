"""Import: an agent file becomes new agents (and their tools, blocks, folders, files, messages, groups) of the
importing user's organization.

Everything but the messages is written in one transaction. Messages (a big file holds hundreds of thousands) follow
in transactions of IMPORT_BATCH rows, so the import never holds the database for long (on SQLite one long write
transaction locked every other organization out), and each batch reports progress to `import_group(import_id)`:
`{"type": "import_progress", "import_id", "done", "total"}` (messages written of all to write). The agents' message
lists are set last; if a batch fails, the agents, blocks, folders and groups made by the import are deleted again."""

import contextlib
import gc
import threading

from django.db import transaction
from django.utils import timezone

from accounts import audit
from ade.errors import DomainError, Invalid
from agents.agentfile.document import AgentEntry, AgentFile, ToolEntry, parse_agent_file
from agents.agentfile.passages import import_passages
from agents.agentfile.preview import checked_model_map, embedding_handle, llm_handle
from agents.models import AGENT_TYPES, Agent, Group, Message
from memory.actions import Actor, create_block
from memory.models import Folder
from tools.models import TOOL_TYPES, Tool


def import_agent_file(
    user,
    raw: bytes | str,
    *,
    name: str | None = None,
    model: str | None = None,
    embedding: str | None = None,
    override_existing_tools: bool = True,
    strip_messages: bool = False,
    secrets: dict | None = None,
    append_copy_suffix: bool = True,
    keep_free_names: bool = False,
    model_map: dict | None = None,
    include_passages: bool = True,
    import_id: str | None = None,
) -> list[str]:
    """Create the file's agents (and their tools, blocks, folders, files, messages, groups, archival passages) for
    `user`'s organization; return the new agent ids in file order. Nothing is left behind on error. Progress goes
    to `import_group(import_id)` when an id is given.

    `keep_free_names`: an agent keeps its name unless it is taken (then `_copy`), whatever `append_copy_suffix`
    says. `model_map` (file handle → handle here, see agents.agentfile.preview) replaces the models it names."""
    doc = parse_agent_file(raw)
    org_id = user.organization_id
    llm_override = _resolved_llm(model, org_id)
    embedding_override = _resolved_embedding(embedding)
    models = _Models(checked_model_map(model_map, org_id), llm_override, embedding_override, org_id)
    with transaction.atomic():
        ids = _IdMap()
        _import_tools(user, doc, ids, override_existing_tools)
        _import_blocks(user, doc, ids)
        _import_folders(user, doc, ids, models)
        agent_ids = []
        names = _AgentNames(user, keep_free_names, append_copy_suffix)
        for i, entry in enumerate(doc.agents):
            new_name = name if (name and i == 0) else names.next(entry.name)
            agent = _import_agent(user, entry, ids, name=new_name, models=models, secrets=secrets or {})
            ids.set(entry.id, agent.id)
            agent_ids.append(agent.id)
        _import_groups(user, doc, ids)
        _import_files(user, doc, ids)
        names = ", ".join(entry.name or "?" for entry in doc.agents)
        summary = f"{len(agent_ids)} agent(s) from an agent file: {names}"
        audit.record(
            user.organization_id, user, "agent.import", object_id=agent_ids[0] if agent_ids else "", summary=summary
        )
    try:
        if include_passages and doc.archival_passages:
            import_passages(user, doc, ids)
        if not strip_messages:
            _import_all_messages(doc, ids, agent_ids, import_id)
    except BaseException:
        _undo(ids)
        raise
    return agent_ids


def import_group(import_id: str) -> str:
    return f"import.{import_id}"


def _undo(ids: "_IdMap") -> None:
    """Delete what the import made (tools it updated in place stay as they are now)."""
    made = set(ids.values())
    with transaction.atomic():
        from memory.models import Archive

        Archive.objects.filter(agents__id__in=made).delete()  # the own archives holding imported passages
        Agent.objects.filter(id__in=made).delete()
        Group.objects.filter(id__in=made).delete()
        Folder.objects.filter(id__in=made).delete()
        from memory.models import Block

        Block.objects.filter(id__in=made).delete()


class _IdMap(dict):
    def set(self, local: str, real: str) -> None:
        self[local] = real

    def many(self, local_ids) -> list[str]:
        return [self[i] for i in local_ids or []]


def _resolved_llm(handle: str | None, org_id: str | None) -> dict | None:
    from agents.runtime.providers import resolve_llm

    return resolve_llm(handle, org_id=org_id) if handle else None


def _resolved_embedding(handle: str | None, org_id: str | None = None) -> dict | None:
    from agents.runtime.providers import resolve_embedding

    return resolve_embedding(handle, org_id=org_id) if handle else None


class _AgentNames:
    """The imported agents' names: `_copy` appended (always, or only to a taken name when free names are kept)."""

    def __init__(self, user, keep_free: bool, suffix: bool):
        from agents.queries import agents_for

        self.keep_free, self.suffix = keep_free, suffix
        self.taken = set(agents_for(user).values_list("name", flat=True)) if keep_free else set()

    def next(self, name: str | None) -> str | None:
        if not name:
            return name
        if not self.keep_free:
            return f"{name}_copy" if self.suffix else name
        while name in self.taken:
            name = f"{name}_copy"
        self.taken.add(name)
        return name


class _Models:
    """Which model configs the imported agents and folders get: an override for all, else the file's handle mapped
    by `model_map`, else the file's own config."""

    def __init__(self, model_map: dict, llm: dict | None, embedding: dict | None, org_id: str | None):
        self.map, self.llm, self.embedding, self.org_id = model_map, llm, embedding, org_id

    def llm_for(self, config: dict | None) -> dict | None:
        return self.llm or self._mapped(llm_handle(config), _resolved_llm, "an LLM")

    def embedding_for(self, config: dict | None) -> dict | None:
        return (
            self.embedding
            or self._mapped(embedding_handle(config), _resolved_embedding, "an embedding model")
            or config
        )

    def _mapped(self, handle: str | None, resolve, kind: str) -> dict | None:
        target = self.map.get(handle or "")
        if not target:
            return None
        try:
            return resolve(target, self.org_id)
        except DomainError:
            raise Invalid(
                f"model_map[{handle!r}]: {target!r} is not {kind} of this server", field="model_map"
            ) from None


def _import_tools(user, doc: AgentFile, ids: _IdMap, override_existing: bool) -> None:
    from tools.actions import ensure_base_tools, upsert_tool
    from tools.mcp_servers import import_mcp_server, import_mcp_tool
    from tools.registry import base_tools

    base = ensure_base_tools(user.organization)
    known = set(base_tools())
    servers = {entry.id: import_mcp_server(user, entry.model_dump()) for entry in doc.mcp_servers}
    longest = Tool._meta.get_field("name").max_length
    for entry in doc.tools:
        if len(entry.name) > longest:
            raise Invalid(
                f"Invalid agent file: tool name {entry.name!r} is longer than {longest} characters", field="file"
            )
        if entry.name in known:
            tool = base[entry.name]
        elif entry.tool_type == "external_mcp" and servers.get((entry.metadata_ or {}).get("mcp", {}).get("server_id")):
            tool = import_mcp_tool(servers[entry.metadata_["mcp"]["server_id"]], entry.model_dump())
        elif entry.tool_type == "custom" and entry.source_code:
            existing = Tool.objects.filter(organization_id=user.organization_id, name=entry.name).first()
            tool = existing if existing is not None and not override_existing else _upsert(user, upsert_tool, entry)
        else:
            tool = _unavailable_tool(user, entry)
        ids.set(entry.id, tool.id)


def _upsert(user, upsert_tool, entry: ToolEntry) -> Tool:
    try:
        return upsert_tool(
            user,
            entry.source_code,
            json_schema=entry.json_schema,
            description=entry.description,
            tags=entry.tags,
            return_char_limit=entry.return_char_limit,
            pip_requirements=entry.pip_requirements,
            npm_requirements=entry.npm_requirements,
            args_json_schema=entry.args_json_schema,
            default_requires_approval=entry.default_requires_approval,
            enable_parallel_execution=entry.enable_parallel_execution,
            metadata=entry.metadata_,
        )
    except DomainError as exc:
        raise Invalid(f"Invalid agent file: tool {entry.name!r}: {exc.message}", field="file") from None


def _unavailable_tool(user, entry: ToolEntry) -> Tool:
    """A built-in or external tool this server does not implement: kept (so the agent's rules and history make
    sense) as a row without code; calling it returns an error to the model."""
    if entry.tool_type not in dict(TOOL_TYPES):
        raise Invalid(
            f"Invalid agent file: tool {entry.name!r} has an unknown tool_type {entry.tool_type!r}", field="file"
        )
    tool, _ = Tool.objects.get_or_create(
        organization_id=user.organization_id,
        name=entry.name,
        defaults={
            "tool_type": entry.tool_type,
            "description": entry.description or "",
            "source_code": None,
            "json_schema": entry.json_schema or {"name": entry.name, "parameters": {}},
            "tags": entry.tags or [],
            "created_by": user,
            "last_updated_by": user,
        },
    )
    return tool


def _import_blocks(user, doc: AgentFile, ids: _IdMap) -> None:
    for entry in doc.blocks:
        try:
            block = create_block(
                user.organization,
                label=entry.label,
                value=entry.value,
                limit=entry.limit,
                description=entry.description,
                read_only=bool(entry.read_only),
                hidden=bool(entry.hidden),
                metadata=entry.metadata,
                tags=entry.tags,
                actor=Actor.user(user, via="api"),
            )
        except DomainError as exc:
            raise Invalid(f"Invalid agent file: block {entry.label!r}: {exc.message}", field="file") from None
        ids.set(entry.id, block.id)


def _import_folders(user, doc: AgentFile, ids: _IdMap, models: _Models) -> None:
    from memory.folders import create_folder, embedding_config_for

    taken = set(Folder.objects.filter(organization_id=user.organization_id).values_list("name", flat=True))
    for entry in doc.sources:
        name = entry.name
        while name in taken:  # a folder keeps its name where it is free
            name = f"{name}_copy"
        taken.add(name)
        config = embedding_config_for(config=models.embedding_for(entry.embedding_config))
        folder = create_folder(
            user,
            name=name,
            description=entry.description,
            instructions=entry.instructions,
            metadata=entry.metadata,
            embedding_config=config,
        )
        ids.set(entry.id, folder.id)


def _import_files(user, doc: AgentFile, ids: _IdMap) -> None:
    """The files' text is ingested again under their own names (a PDF stays `x.pdf`: its text is what the file
    carries, and is ingested as text)."""
    from memory.ingest import upload_file

    for entry in doc.files:
        folder = Folder.objects.get(id=ids[entry.source_id])
        name = entry.file_name or entry.original_file_name or f"{entry.id}.txt"
        data = (entry.content or "").encode()
        file = upload_file(user.organization, folder, name=name, data=data, created_by=user, as_text=True)
        ids.set(entry.id, file.id)


def _import_agent(user, entry: AgentEntry, ids: _IdMap, *, name, models: _Models, secrets: dict) -> Agent:
    from agents.actions import create_agent

    if entry.agent_type not in dict(AGENT_TYPES):
        raise Invalid(
            f"Invalid agent file: agent {entry.id} has an unknown agent_type {entry.agent_type!r}", field="file"
        )
    wanted_secrets = {**(entry.tool_exec_environment_variables or {}), **(entry.secrets or {})}
    spec = {
        "name": name,
        "agent_type": entry.agent_type,
        "system": entry.system,
        "description": entry.description,
        "metadata": entry.metadata,
        "tags": entry.tags,
        "timezone": entry.timezone,
        "hidden": entry.hidden,
        "message_buffer_autoclear": entry.message_buffer_autoclear,
        "max_files_open": entry.max_files_open,
        "per_file_view_window_char_limit": entry.per_file_view_window_char_limit,
        "response_format": entry.response_format,
        "compaction_settings": entry.compaction_settings,
        "secrets": {**{k: "" for k in wanted_secrets}, **secrets},
        "tool_ids": ids.many(entry.tool_ids),
        "block_ids": ids.many(entry.block_ids),
        "folder_ids": ids.many(entry.folder_ids or entry.source_ids),
        "tool_rules": entry.tool_rules or [],
        "include_base_tools": False,
        "include_base_tool_rules": False,
        "initial_message_sequence": [],
        "enable_sleeptime": False,
        **_model_spec(
            entry, models.llm_for(entry.llm_config), models.embedding_for(entry.embedding_config), user.organization_id
        ),
    }
    agent = create_agent(user, {k: v for k, v in spec.items() if v is not None})
    llm = models.llm_for(entry.llm_config)
    Agent.objects.filter(id=agent.id).update(
        enable_sleeptime=bool(entry.enable_sleeptime), llm_config={**agent.llm_config, **_kept_handle(entry, llm)}
    )
    return agent


def _model_spec(entry: AgentEntry, llm: dict | None, embedding: dict | None, org_id: str | None) -> dict:
    """Which model the agent calls: the override, else the file's handle when this server has that model, else
    the file's config as it is (calls fail until that provider is configured)."""
    from agents.runtime.providers import resolve_llm

    spec = {"embedding_config": embedding or entry.embedding_config}
    if llm is not None:
        return {**spec, "llm_config": llm}
    config = dict(entry.llm_config or {})
    handle = config.pop("handle", None)
    if handle:
        try:
            resolve_llm(handle, org_id=org_id)
            return {**spec, "model": handle, "llm_config": config}
        except DomainError:
            pass
    if not config:
        raise Invalid(f"Invalid agent file: agent {entry.id} has no llm_config", field="file")
    return {**spec, "llm_config": config}


def _kept_handle(entry: AgentEntry, llm: dict | None) -> dict:
    handle = (entry.llm_config or {}).get("handle")
    return {"handle": handle} if llm is None and handle else {}


IMPORT_BATCH = 2000  # message rows per transaction


def _import_all_messages(doc: AgentFile, ids: _IdMap, agent_ids: list[str], import_id: str | None) -> None:
    agents = Agent.objects.in_bulk(agent_ids)
    total = sum(len(entry.messages) for entry in doc.agents)
    progress = _Progress(import_id, total)
    for entry, agent_id in zip(doc.agents, agent_ids, strict=True):
        _import_messages(agents[agent_id], entry, ids, progress)
    progress.report(final=True)


class _Progress:
    STEP = 5  # percent: a page needs no more, and a channel holds a limited number of unread events

    def __init__(self, import_id: str | None, total: int):
        self.import_id, self.total, self.done, self.shown = import_id, total, 0, -1

    def add(self, count: int) -> None:
        self.done += count
        percent = 100 * self.done // max(self.total, 1) // self.STEP
        if percent > self.shown:
            self.shown = percent
            self.report()

    def report(self, *, final: bool = False) -> None:
        if self.import_id:
            from ade.events import send_now

            event = {"type": "import_progress", "import_id": self.import_id, "done": self.done, "total": self.total}
            send_now(import_group(self.import_id), {**event, "finished": final})


def _import_messages(agent: Agent, entry: AgentEntry, ids: _IdMap, progress: _Progress) -> None:
    """The file's messages as new rows, in order, in transactions of IMPORT_BATCH rows; then, in one more, the
    in-context list. The agent's fresh system message stands in for the file's in-context one, and is recompiled
    for this server."""
    context = list(entry.in_context_message_ids)
    roles = {m.id: m.role for m in entry.messages}
    if context and roles[context[0]] == "system":
        ids.set(context.pop(0), agent.message_ids[0])
    rows = []
    for m in entry.messages:
        if m.id in ids:
            continue
        row = Message(
            organization_id=agent.organization_id,
            agent=agent,
            role=m.role,
            content=_parts(m.content),
            name=m.name or "",
            otid=m.otid or "",
            sender_id=m.sender_id or "",
            group_id=m.group_id or "",
            model=m.model or "",
            tool_calls=m.tool_calls or None,
            tool_call_id=m.tool_call_id or "",
            tool_returns=m.tool_returns or None,
            approve=m.approve,
            denial_reason=m.denial_reason or "",
            approvals=m.approvals or None,
            created_at=m.created_at or timezone.now(),
        )
        ids.set(m.id, row.id)  # ids are assigned when a row is built, so requests can point at later rows
        rows.append((m, row))
    for m, row in rows:
        row.approval_request_id = ids.get(m.approval_request_id, "") if m.approval_request_id else ""
    progress.add(len(entry.messages) - len(rows))  # the file's system message: replaced, not written
    with _collector_skips_what_exists():
        for start in range(0, len(rows), IMPORT_BATCH):
            with transaction.atomic():
                Message.objects.bulk_create([row for _, row in rows[start : start + IMPORT_BATCH]])
            progress.add(len(rows[start : start + IMPORT_BATCH]))
    from memory.context import rebuild_system_prompts

    with transaction.atomic():
        Agent.objects.filter(id=agent.id).update(message_ids=[agent.message_ids[0], *ids.many(context)])
        rebuild_system_prompts([agent.id], force=True)


@contextlib.contextmanager
def _collector_skips_what_exists():
    """While the batches are written, Python's full collections skip the objects that exist now (`gc.freeze`):
    the file's document and its rows, tens of thousands of objects, made each one a 0.1-0.3 s pause of every
    thread of the process, some while a batch held SQLite's write lock (another organization's write timed out
    behind it). New garbage is collected as usual; the last import to finish gives the objects back."""
    global _freezes
    with _freeze_lock:
        _freezes += 1
        gc.freeze()
    try:
        yield
    finally:
        with _freeze_lock:
            _freezes -= 1
            if not _freezes:
                gc.unfreeze()


_freezes = 0
_freeze_lock = threading.Lock()


def _parts(content) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content


def _import_groups(user, doc: AgentFile, ids: _IdMap) -> None:
    for entry in doc.groups:
        config = entry.manager_config or {}
        manager = config.get("manager_agent_id")
        group = Group.objects.create(
            organization_id=user.organization_id,
            manager_type=config.get("manager_type") or "sleeptime",
            manager_agent_id=ids[manager] if manager else None,
            description=entry.description or "",
            sleeptime_agent_frequency=config.get("sleeptime_agent_frequency"),
        )
        group.agents.add(*ids.many(entry.agent_ids))
        if group.manager_type == "sleeptime" and manager:  # the companion stays linked: its manager says so too
            Agent.objects.filter(id=group.manager_agent_id).update(enable_sleeptime=True)
