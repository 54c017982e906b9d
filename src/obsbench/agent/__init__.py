"""The investigation engine: an LLM loop (Anthropic, OpenAI-compatible) or the offline
investigator, both emitting the same event stream and the same result."""
