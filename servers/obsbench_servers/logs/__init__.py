"""The logs MCP server: search, error patterns, volume, correlation, stack traces."""
