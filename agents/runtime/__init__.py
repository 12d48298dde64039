"""The engine of a turn: the step loop, the LLM client, providers, tool rules, streaming."""
