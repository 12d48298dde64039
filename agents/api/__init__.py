"""The `/v1` routes of agents, runs and messages, and their wire schemas."""
