"""Writes to core memory (blocks, with versions and history) and archival memory (passages)."""

from dataclasses import dataclass

from django.db import connection, transaction

from accounts import audit
from ade.errors import Invalid, NotFound
from ade.events import agent_group, broadcast
from ade.prepared import PreparedUpdate, insert_rows

from .models import Archive, Block, BlockHistory, Passage, PassageTag, normalize_newlines
from .queries import block_agent_ids, block_to_change
from .vectors import ensure_vector_index

DEFAULT_DESCRIPTIONS = {
    "persona": "The persona block: Stores details about your current persona, guiding how you behave and respond. "
    "This helps you to maintain consistency and personality in your interactions.",
    "human": "The human block: Stores key details about the person you are conversing with, allowing for more "
    "personalized and friend-like conversation.",
}


@dataclass(frozen=True)
class Actor:
    """Who made a change: a person (pages/API/admin) or an agent's tool."""

    type: str  # user | agent | api | admin | system
    id: str = ""
    name: str = ""
    tool_name: str = ""
    key_id: str = ""  # the API key the person used, for the audit log

    @classmethod
    def user(cls, user, via: str = "user") -> "Actor":
        key_id = getattr(getattr(user, "api_key", None), "id", "") or ""
        return cls(via, getattr(user, "id", "") or "", getattr(user, "username", "") or "", key_id=key_id)

    @classmethod
    def agent(cls, agent, tool_name: str) -> "Actor":
        return cls("agent", agent.id, agent.name, tool_name)

    @property
    def user_id(self) -> str | None:
        return self.id if self.type in ("user", "api", "admin") and self.id else None


# Every memory edit writes it (agents' memory tools, the pages, the API): built once per process.
BLOCK_SAVE = PreparedUpdate.whole_rows(Block)


def _record(block: Block, diff: dict, actor: Actor) -> BlockHistory:
    """The block's history row and its audit entry (inside the change's transaction)."""
    return _record_all([(block, diff)], actor)[0]


def _record_all(changes: list[tuple[Block, dict]], actor: Actor) -> list[BlockHistory]:
    """The history rows and audit entries of (block, diff) changes in one organization, one INSERT for each kind."""
    entries, rows = [], []
    for block, diff in changes:
        verb = "create" if block.version == 1 and all(old is None for old, _new in diff.values()) else "update"
        entries.append((f"block.{verb}", block.id, f"{block.label} v{block.version}: {', '.join(sorted(diff))}"))
        rows.append(
            BlockHistory(
                block=block,
                version=block.version,
                actor_type=actor.type,
                actor_id=actor.id,
                actor_name=actor.name,
                tool_name=actor.tool_name,
                previous={f: old for f, (old, _new) in diff.items()},
                new={f: new for f, (_old, new) in diff.items()},
            )
        )
    if changes:
        audit.record_all(changes[0][0].organization_id, actor, entries)
    return insert_rows(rows)


def _announce(block: Block, agent_ids=None) -> None:
    ids = agent_ids if agent_ids is not None else block_agent_ids(block.id)
    for agent_id in ids:
        broadcast(agent_group(agent_id), {"type": "block_updated", "block_id": block.id, "version": block.version})
    if ids:
        from .context import rebuild_system_prompts

        rebuild_system_prompts(ids)


def create_block(organization, *, actor: Actor, **fields) -> Block:
    """A new block (`fields` as for `new_block`), written with its history row and audit entry."""
    return create_blocks([new_block(organization, actor=actor, **fields)], actor)[0]


def new_block(
    organization,
    *,
    label: str,
    value: str = "",
    limit: int | None = None,
    description: str | None = None,
    read_only: bool = False,
    hidden: bool = False,
    metadata: dict | None = None,
    tags: list | None = None,
    actor: Actor,
) -> Block:
    """A checked Block, not saved yet: `create_blocks` writes it."""
    label = normalize_newlines(label or "").strip()
    if not label:
        raise Invalid("label must not be empty", field="label")
    value, description = normalize_newlines(value), normalize_newlines(description)
    block = Block(
        organization=organization,
        label=label,
        value=value or "",
        read_only=read_only,
        hidden=hidden,
        metadata=metadata or {},
        tags=tags or [],
        description=description if description else DEFAULT_DESCRIPTIONS.get(label, ""),
    )
    if limit is not None:
        block.limit = limit
    if block.limit < 1:
        raise Invalid("limit must be a positive number", field="limit")
    block.check_value(block.value)
    block.created_by_id = block.last_updated_by_id = actor.user_id
    return block


def create_blocks(blocks: list[Block], actor: Actor) -> list[Block]:
    """Write new blocks (from `new_block`, one organization) with their history and audit: one INSERT per table."""
    with transaction.atomic():
        insert_rows(blocks)
        _record_all([(block, {f: (None, v) for f, v in block.snapshot().items()}) for block in blocks], actor)
    return blocks


def update_block(
    organization, block_id: str, changes: dict, *, actor: Actor, expected_version: int | None = None
) -> Block:
    """Apply `changes` under a row lock; refuse stale versions; write one history row; notify attached agents."""
    with transaction.atomic():
        block = block_to_change(getattr(organization, "pk", organization), block_id)
        if block is None:
            raise NotFound("Block not found")
        diff = block.apply_edit(changes, expected_version=expected_version)
        if diff:
            if actor.user_id:
                block.last_updated_by_id = actor.user_id
            BLOCK_SAVE.save_row(block)
            _record(block, diff, actor)
            _announce(block)
    return block


def block_state_at(block: Block, version: int) -> dict:
    """The editable fields as they were at `version`, rebuilt by walking history back from now."""
    if version < 1 or version > block.version:
        raise Invalid(f"version must be between 1 and {block.version}", field="version")
    state = block.snapshot()
    for row in block.history.filter(version__gt=version).order_by("-version"):
        state.update(row.previous)
    return state


def undo_block(organization, block_id: str, to_version: int, *, actor: Actor) -> Block:
    """Restore a block to an earlier version (as a new change, so nothing is lost)."""
    with transaction.atomic():
        block = Block.objects.select_for_update().filter(id=block_id, organization=organization).first()
        if block is None:
            raise NotFound("Block not found")
        state = block_state_at(block, to_version)
        changes = {f: v for f, v in state.items() if v is not None and v != getattr(block, f)}
        return update_block(organization, block_id, changes, actor=actor, expected_version=block.version)


def delete_block(organization, block_id: str, *, actor: Actor | None = None) -> None:
    with transaction.atomic():
        block = Block.objects.select_for_update().filter(id=block_id, organization=organization).first()
        if block is None:
            raise NotFound("Block not found")
        audit.record(block.organization_id, actor, "block.delete", object_id=block.id, summary=block.label)
        agent_ids = list(block.agents.values_list("id", flat=True))
        block.delete()
        for agent_id in agent_ids:
            broadcast(agent_group(agent_id), {"type": "block_detached", "block_id": block_id})


# ---------------------------------------------------------------------------------------------------------------
# Passages. Embeddings are computed by the caller, before the transaction (no network inside it).


def create_passages(
    organization,
    texts: list[str],
    embeddings,
    *,
    embedding_model: str,
    archive: Archive | None = None,
    folder=None,
    file=None,
    tags: list[str] | None = None,
    metadata: dict | None = None,
    created_by=None,
    created_at=None,
) -> list[Passage]:
    """Store passages; `organization` and `created_by` may be rows or their ids (an id saves reading the row)."""
    tags = sorted({t for t in (tags or []) if t})
    owner = {
        "organization_id": getattr(organization, "pk", organization),
        "created_by_id": getattr(created_by, "pk", created_by),
    }
    if created_at is not None:
        owner["created_at"] = created_at
    rows = []
    for i, text in enumerate(texts):
        vec = None if embeddings is None else embeddings[i]
        rows.append(
            Passage(
                archive=archive,
                folder=folder,
                file=file,
                text=text,
                tags=tags,
                metadata=metadata or {},
                embedding=vec,
                embedding_model=embedding_model,
                embedding_dim=None if vec is None else len(vec),
                **owner,
            )
        )
    with transaction.atomic():
        insert_rows(rows)  # one passage (an archival insert) through SQL built once; a file's in batches
        if tags:
            insert_rows([PassageTag(passage=p, archive=archive, tag=t) for p in rows for t in tags])
        # A new dimension gets its HNSW index after commit (DDL must not join this write).
        for dim in {p.embedding_dim for p in rows if p.embedding_dim}:
            transaction.on_commit(lambda dim=dim: ensure_vector_index(connection, dim))
    return rows


def delete_passage(organization, passage_id: str) -> None:
    deleted, _ = Passage.objects.filter(id=passage_id, organization=organization).delete()
    if not deleted:
        raise NotFound("Passage not found")
