"""Tool rules (behaviour spec §4): the solver, the rendered prompt, and how each rule type changes the loop."""

import pytest

from ade.errors import Invalid
from agents.actions import create_agent
from agents.runtime.rules import ToolRulesSolver, merge_prefilled_args, render_rules_prompt, validate_rules
from tests.helpers_loop import context, custom_tool, packaged, tool_names, turn

AVAILABLE = ["a", "b", "c", "send_message"]


def solver(*rules):
    return ToolRulesSolver(validate_rules(list(rules)))


# ---- the solver ------------------------------------------------------------------------------------------------


def test_run_first_allows_only_init_tools_until_something_ran():
    s = solver({"type": "run_first", "tool_name": "b", "args": {"x": 1}})
    assert s.allowed(AVAILABLE) == ["b"] and s.should_force_tool_call()
    assert s.prefilled_args("b") == {"x": 1}
    s.register("b", "ok")
    assert s.allowed(AVAILABLE) == AVAILABLE and not s.should_force_tool_call()


def test_child_rule_narrows_after_parent_and_prefills_child_args():
    s = solver(
        {
            "type": "constrain_child_tools",
            "tool_name": "a",
            "children": ["b"],
            "child_arg_nodes": [{"name": "b", "args": {"q": "z"}}],
        }
    )
    assert s.allowed(AVAILABLE) == AVAILABLE
    s.register("a", "done")
    assert s.allowed(AVAILABLE) == ["b"] and s.should_force_tool_call() and s.is_parent("a")
    assert s.prefilled_args("b") == {"q": "z"}


@pytest.mark.parametrize(
    "output,allowed", [("yes", ["b"]), ("no", ["c"]), ("maybe", ["send_message"]), ("True", ["a"]), ("3.0", ["c"])]
)
def test_conditional_rule_matches_the_return_value(output, allowed):
    s = solver(
        {
            "type": "conditional",
            "tool_name": "a",
            "default_child": "send_message",
            "child_output_mapping": {"yes": "b", "no": "c", "true": "a", "3": "c"},
        }
    )
    s.register("a", output)
    assert s.allowed(AVAILABLE) == allowed


def test_conditional_without_match_or_default_allows_all_unless_mapping_required():
    loose = solver({"type": "conditional", "tool_name": "a", "child_output_mapping": {"yes": "b"}})
    loose.register("a", "nope")
    assert loose.allowed(AVAILABLE) == AVAILABLE
    strict = solver(
        {"type": "conditional", "tool_name": "a", "child_output_mapping": {"yes": "b"}, "require_output_mapping": True}
    )
    strict.register("a", "nope")
    assert strict.allowed(AVAILABLE) == []


def test_max_count_and_parent_last_tool():
    s = solver(
        {"type": "max_count_per_step", "tool_name": "a", "max_count_limit": 2},
        {"type": "parent_last_tool", "tool_name": "b", "children": ["c"]},
    )
    assert s.allowed(AVAILABLE) == ["a", "b", "send_message"]  # c only right after b
    s.register("a")
    s.register("b")
    assert s.allowed(AVAILABLE) == ["c"]
    s.register("a")
    assert s.allowed(AVAILABLE) == ["b", "send_message"]  # a used twice, c not after b


def test_required_before_exit_terminal_continue_and_approval():
    s = solver(
        {"type": "required_before_exit", "tool_name": "c"},
        {"type": "exit_loop", "tool_name": "a"},
        {"type": "continue_loop", "tool_name": "b"},
        {"type": "requires_approval", "tool_name": "b"},
        {"type": "required_before_exit", "tool_name": "not_attached"},
    )
    assert s.uncalled_required(AVAILABLE) == ["c"]
    s.register("c")
    assert s.uncalled_required(AVAILABLE) == []
    assert s.is_terminal("a") and s.is_continue("b") and s.requires_approval("b") and not s.requires_approval("a")


def test_violation_text_names_allowed_tools_and_hints():
    s = solver({"type": "constrain_child_tools", "tool_name": "a", "children": ["b"]})
    s.register("a")
    text = s.violation_text("c", ["b"])
    assert text.startswith("[ToolConstraintError] Cannot call c, valid tools include: ['b'].")
    assert (
        "\n** Hint: Possible rules that were violated:\n\t- After using a, you must use one of these tools: b" in text
    )


def test_rules_prompt_order_and_silent_types():
    rules = validate_rules(
        [
            {"type": "exit_loop", "tool_name": "send_message"},
            {"type": "run_first", "tool_name": "a"},
            {"type": "parent_last_tool", "tool_name": "p", "children": ["c", "d"]},
            {"type": "max_count_per_step", "tool_name": "a", "max_count_limit": 2},
            {"type": "continue_loop", "tool_name": "b"},
            {"type": "requires_approval", "tool_name": "x"},
            {"type": "required_before_exit", "tool_name": "y"},
            {"type": "conditional", "tool_name": "q", "child_output_mapping": {"1": "a"}},
        ]
    )
    texts = [line for line in render_rules_prompt(rules).split("\n") if line and not line.startswith("<")]
    assert texts[1:] == [
        "b requires continuing your response when called",
        "a: at most 2 use(s) per response",
        "q will determine which tool to use next based on its output",
        "c, d can only be used after p",
        "send_message ends your response (yields control) when called",
    ]
    assert render_rules_prompt(validate_rules([{"type": "requires_approval", "tool_name": "x"}])) == ""


@pytest.mark.parametrize(
    "rule,field",
    [
        ({"type": "nope", "tool_name": "a"}, "tool_rules[0].type"),
        ({"type": "exit_loop"}, "tool_rules[0].tool_name"),
        ({"type": "constrain_child_tools", "tool_name": "a", "children": []}, "tool_rules[0].children"),
        ({"type": "conditional", "tool_name": "a", "child_output_mapping": {}}, "tool_rules[0].child_output_mapping"),
        ({"type": "max_count_per_step", "tool_name": "a", "max_count_limit": 0}, "tool_rules[0].max_count_limit"),
        (
            {"type": "constrain_child_tools", "tool_name": "a", "children": ["b"], "child_arg_nodes": [{"name": "z"}]},
            "tool_rules[0].child_arg_nodes",
        ),
    ],
)
def test_bad_rules_are_refused_naming_the_field(rule, field):
    with pytest.raises(Invalid) as err:
        validate_rules([rule])
    assert err.value.field == field


def test_prefilled_args_override_and_unknown_names_are_refused():
    schema = {"name": "t", "parameters": {"properties": {"x": {}, "y": {}}}}
    assert merge_prefilled_args({"x": 1, "y": 2}, {"x": 9}, schema) == {"x": 9, "y": 2}
    with pytest.raises(ValueError, match="unknown argument"):
        merge_prefilled_args({}, {"zz": 1}, schema)


# ---- each rule type through the loop (scripted model over HTTP) --------------------------------------------------

CHECK = '''
def check(answer: str) -> str:
    """Echo an answer.

    Args:
        answer: What to return.
    """
    return answer
'''
STEP_B = '''
def step_b() -> str:
    """Second step."""
    return "b done"
'''
STEP_C = '''
def step_c() -> str:
    """Third step."""
    return "c done"
'''


@pytest.fixture
def steps(alice):
    return [custom_tool(alice, src) for src in (CHECK, STEP_B, STEP_C)]


def v1(alice, rules, tools=("check", "step_b", "step_c"), **spec):
    return create_agent(
        alice,
        {
            "tools": list(tools),
            "tool_rules": rules,
            "include_base_tools": False,
            "include_base_tool_rules": False,
            **spec,
        },
    )


def test_run_first_forces_the_tool_and_a_violation_costs_a_step(alice, scripted_llm):
    agent = create_agent(
        alice,
        {"agent_type": "memgpt_v2_agent", "tool_rules": [{"type": "run_first", "tool_name": "conversation_search"}]},
    )
    scripted_llm.queue_tool_call("send_message", {"message": "hi", "request_heartbeat": False})
    scripted_llm.queue_tool_call("conversation_search", {"query": "x", "request_heartbeat": False})
    scripted_llm.queue_tool_call("send_message", {"message": "done"})
    run, _ = turn(alice, agent, "hello")
    first, second, third = scripted_llm.requests()
    assert tool_names(first) == tool_names(second) == ["conversation_search"]  # nothing ran yet: still forced
    assert first["tool_choice"] == {"type": "function", "function": {"name": "conversation_search"}}
    tail = context(agent)[5:]
    assert packaged(tail[1])["message"].startswith(
        "[ToolConstraintError] Cannot call send_message, valid tools include: ['conversation_search']."
    )
    assert packaged(tail[2])["reason"].endswith("Continuing: tool rule violation.")
    assert "send_message" in tool_names(third)
    assert run.stop_reason == "end_turn" and run.usage["step_count"] == 3


def test_child_rule_sends_only_the_children_after_the_parent(alice, scripted_llm, steps):
    agent = v1(alice, [{"type": "constrain_child_tools", "tool_name": "check", "children": ["step_b"]}])
    scripted_llm.queue_tool_call("check", {"answer": "x"})
    scripted_llm.queue_tool_call("step_b", {})
    scripted_llm.queue_text("all done")
    run, _ = turn(alice, agent, "go")
    requests = scripted_llm.requests()
    assert set(tool_names(requests[0])) == {"check", "step_b", "step_c"} and requests[0]["tool_choice"] == "auto"
    assert tool_names(requests[1]) == ["step_b"]
    assert requests[1]["tool_choice"] == {"type": "function", "function": {"name": "step_b"}}
    assert run.stop_reason == "end_turn"


@pytest.mark.parametrize("answer,next_tool", [("yes", "step_b"), ("no", "step_c")])
def test_conditional_rule_follows_the_tools_output(alice, scripted_llm, steps, answer, next_tool):
    agent = v1(
        alice,
        [
            {
                "type": "conditional",
                "tool_name": "check",
                "child_output_mapping": {"yes": "step_b"},
                "default_child": "step_c",
            }
        ],
    )
    scripted_llm.queue_tool_call("check", {"answer": answer})
    scripted_llm.queue_tool_call(next_tool, {})
    scripted_llm.queue_text("ok")
    turn(alice, agent, "go")
    assert tool_names(scripted_llm.requests()[1]) == [next_tool]


def test_max_count_removes_the_tool_for_the_rest_of_the_request_only(alice, scripted_llm, steps):
    agent = v1(alice, [{"type": "max_count_per_step", "tool_name": "step_b", "max_count_limit": 1}])
    scripted_llm.queue_tool_call("step_b", {})
    scripted_llm.queue_text("ok")
    scripted_llm.queue_text("again")
    turn(alice, agent, "go")
    turn(alice, agent, "go again")
    first, second, next_turn = scripted_llm.requests()
    assert "step_b" in tool_names(first) and "step_b" not in tool_names(second)
    assert "step_b" in tool_names(next_turn)


def test_exit_loop_stops_a_letta_v1_agent_with_tool_rule(alice, scripted_llm, steps):
    agent = v1(alice, [{"type": "exit_loop", "tool_name": "step_b"}])
    scripted_llm.queue_tool_call("step_b", {})
    run, _ = turn(alice, agent, "go")
    assert run.stop_reason == "tool_rule" and run.status == "completed"
    assert len(scripted_llm.requests()) == 1


def test_continue_loop_chains_a_heartbeat_agent_without_heartbeat_request(alice, scripted_llm, steps):
    agent = create_agent(
        alice,
        {
            "agent_type": "memgpt_v2_agent",
            "tools": ["step_b"],
            "tool_rules": [{"type": "continue_loop", "tool_name": "step_b"}],
        },
    )
    scripted_llm.queue_tool_call("step_b", {"request_heartbeat": False})
    scripted_llm.queue_tool_call("send_message", {"message": "done"})
    run, _ = turn(alice, agent, "go")
    assert run.usage["step_count"] == 2 and run.stop_reason == "end_turn"
    heartbeat = context(agent)[-3]
    assert packaged(heartbeat)["reason"].endswith("Continuing: continue tool rule.")


def test_parent_last_tool_hides_children_until_the_parent_ran(alice, scripted_llm, steps):
    agent = v1(alice, [{"type": "parent_last_tool", "tool_name": "check", "children": ["step_c"]}])
    scripted_llm.queue_tool_call("check", {"answer": "x"})
    scripted_llm.queue_tool_call("step_c", {})
    scripted_llm.queue_text("ok")
    turn(alice, agent, "go")
    first, second, third = scripted_llm.requests()
    assert "step_c" not in tool_names(first)
    assert tool_names(second) == ["step_c"]
    assert "step_c" not in tool_names(third)


def test_required_before_exit_keeps_a_v1_agent_going(alice, scripted_llm, steps):
    agent = v1(alice, [{"type": "required_before_exit", "tool_name": "step_b"}])
    scripted_llm.queue_text("I am done")
    scripted_llm.queue_tool_call("step_b", {})
    scripted_llm.queue_text("now really done")
    run, _ = turn(alice, agent, "go")
    roles = [m.role for m in context(agent)]
    assert roles == ["system", "user", "assistant", "user", "assistant", "tool", "assistant"]
    reminder = packaged(context(agent)[3])
    assert reminder["type"] == "heartbeat"
    assert reminder["reason"].endswith("ToolRuleViolated: You must call step_b at least once to exit the loop.")
    assert run.stop_reason == "end_turn" and run.usage["step_count"] == 3


def test_v2_required_tool_reason(alice, scripted_llm, steps):
    agent = create_agent(
        alice,
        {
            "agent_type": "memgpt_v2_agent",
            "tools": ["step_b"],
            "tool_rules": [{"type": "required_before_exit", "tool_name": "step_b"}],
        },
    )
    scripted_llm.queue_tool_call("send_message", {"message": "bye", "request_heartbeat": False})
    scripted_llm.queue_tool_call("step_b", {"request_heartbeat": False})
    run, _ = turn(alice, agent, "go")
    assert run.usage["step_count"] == 2
    beat = next(m for m in context(agent) if m.role == "user" and "user expects" in m.text)
    assert packaged(beat)["reason"].endswith("Continuing, user expects these tools: [step_b] to be called still.")


def test_prefilled_args_fill_the_call_and_bad_ones_stop_the_run(alice, scripted_llm, steps):
    agent = v1(alice, [{"type": "run_first", "tool_name": "check", "args": {"answer": "forced"}}])
    scripted_llm.queue_tool_call("check", {"answer": "model's"})
    scripted_llm.queue_text("ok")
    turn(alice, agent, "go")
    tool = next(m for m in context(agent) if m.role == "tool")
    assert packaged(tool)["message"] == "forced"
    broken = v1(alice, [{"type": "run_first", "tool_name": "check", "args": {"nope": 1}}])
    scripted_llm.queue_tool_call("check", {"answer": "x"})
    run, _ = turn(alice, broken, "go")
    assert (run.status, run.stop_reason) == ("failed", "invalid_tool_call")
    tool = next(m for m in context(broken) if m.role == "tool")
    assert packaged(tool)["message"].startswith("Invalid prefilled tool arguments from tool rules")
