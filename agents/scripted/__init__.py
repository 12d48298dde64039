"""The scripted model: an OpenAI-compatible server (`engram/scripted`) and its deterministic rules."""
