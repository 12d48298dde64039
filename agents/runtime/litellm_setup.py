"""How litellm is configured for Engram: quiet, offline, and without the per-call work whose results we never read.

Each change below was found with a profile of `bench server` and says what it saved. The patches of private
functions check the library's layout and keep its behaviour when it differs.
"""

CALL_KWARGS: dict = {}  # added to every completion call (see _no_mcp_gateway)


def configure(module) -> None:
    module.suppress_debug_info = True
    module.drop_params = True  # providers that lack a parameter ignore it instead of failing
    module.telemetry = False
    # We register no litellm callbacks, yet after every streamed call it built a logging payload on a thread of
    # its own that nobody read: ~30 % of a streamed turn's CPU.
    module.disable_streaming_logging = True
    _send_messages_as_they_are()
    _no_service_events_without_listeners(module)
    _keep_ids_without_thought_signatures()
    _no_success_logging_without_callbacks(module)
    _no_mcp_gateway(module)


def _send_messages_as_they_are() -> None:
    """Let the OpenAI SDK (under litellm) send `messages` and `tools` without re-walking them.

    Before each request the SDK walks the body against its TypedDict annotations to rename aliased keys. Chat
    messages and tool schemas have no aliases, so on our plain JSON lists the walk changes nothing, yet it costs
    about 0.1 ms per message: on a long conversation it was most of the server's own time per step. The rest of
    the body still goes through the SDK, and its JSON encoder serialises what the walk would have converted.
    """
    try:
        from openai.resources.chat.completions import completions as sdk
        from openai.types.chat import completion_create_params as params
    except ImportError:  # another SDK layout: keep its behaviour
        return
    transform = sdk.maybe_transform
    chat_params = (params.CompletionCreateParamsStreaming, params.CompletionCreateParamsNonStreaming)

    def maybe_transform(data, expected_type):
        if expected_type not in chat_params or not isinstance(data, dict):
            return transform(data, expected_type)
        as_is = {k: data[k] for k in ("messages", "tools") if isinstance(data.get(k), list)}
        return {**transform({k: v for k, v in data.items() if k not in as_is}, expected_type), **as_is}

    sdk.maybe_transform = maybe_transform


def _no_service_events_without_listeners(module) -> None:
    """litellm times each provider call for its service loggers (Prometheus, Datadog, OTel) and, from a thread
    without an event loop, creates a new loop to hand them the event: ~3 % of a turn's CPU with no service
    logger configured. The event is still sent whenever one is (`litellm.service_callback`)."""
    try:
        from litellm._service_logger import ServiceLogging
    except ImportError:
        return
    dispatch = ServiceLogging._dispatch_from_sync

    def dispatch_if_heard(hook) -> None:
        if module.service_callback:
            dispatch(hook)

    ServiceLogging._dispatch_from_sync = staticmethod(dispatch_if_heard)


def _keep_ids_without_thought_signatures() -> None:
    """Before every call to a non-Gemini model litellm copies every message (model_dump / dict copy) to strip
    Gemini thought signatures from tool call ids: ~4 % of a turn's CPU. Our messages carry such ids only if a
    Gemini model produced them; the messages are copied and cleaned exactly as before when one does."""
    try:
        from litellm import utils
        from litellm.litellm_core_utils.prompt_templates.factory import THOUGHT_SIGNATURE_SEPARATOR
    except ImportError:
        return
    strip = getattr(utils, "_remove_thought_signatures_from_messages", None)
    if strip is None:
        return

    def _signed(message) -> bool:
        if not isinstance(message, dict):
            return True  # a pydantic message or another type: let litellm handle it
        ids = [message.get("tool_call_id")] + [
            call.get("id") if isinstance(call, dict) else None for call in message.get("tool_calls") or ()
        ]
        return any(isinstance(i, str) and THOUGHT_SIGNATURE_SEPARATOR in i for i in ids)

    def strip_if_signed(messages, separator):
        if separator == THOUGHT_SIGNATURE_SEPARATOR and not any(_signed(m) for m in messages):
            return messages
        return strip(messages, separator)

    utils._remove_thought_signatures_from_messages = strip_if_signed


def _no_success_logging_without_callbacks(module) -> None:
    """After every non-streamed call litellm prices the response (its cost table) and hands a logging payload to a
    thread of its own, for success callbacks; we register none and read neither: ~4 % of a turn's CPU, part of it
    the GIL taken from the turn. Both run exactly as before as soon as any callback is registered."""
    try:
        from litellm.litellm_core_utils.litellm_logging import Logging
    except ImportError:
        return

    def heard(logging_obj) -> bool:
        return bool(
            module.success_callback
            or module._async_success_callback
            or module.callbacks
            or getattr(logging_obj, "dynamic_success_callbacks", None)
            or getattr(logging_obj, "dynamic_async_success_callbacks", None)
        )

    success_handler, cost = Logging.success_handler, Logging.response_cost_calculator

    def success_handler_if_heard(self, *args, **kwargs):
        return success_handler(self, *args, **kwargs) if heard(self) else None

    def cost_if_heard(self, *args, **kwargs):
        return cost(self, *args, **kwargs) if heard(self) else None

    Logging.success_handler, Logging.response_cost_calculator = success_handler_if_heard, cost_if_heard


def _no_mcp_gateway(module) -> None:
    """The first call with tools imported litellm's MCP gateway (the `mcp` package, starlette, uvicorn,
    OpenTelemetry: 0.6 s and ~25 MiB, the bulk of the first message after start-up) to ask whether a tool names
    an MCP server of the litellm proxy. Ours never do (our MCP tools are plain function schemas): litellm's own
    switch skips that check. Only where this litellm has the switch; elsewhere the call is left as it was."""
    from pathlib import Path

    main = Path(module.__file__).with_name("main.py")
    if main.is_file() and '"_skip_mcp_handler"' in main.read_text(encoding="utf-8", errors="replace"):
        CALL_KWARGS["_skip_mcp_handler"] = True
