"""Modal screens: help, raw JSON, write confirmation."""
