"""The TUI's widgets: chat pane, evidence list, status bar and one panel per evidence kind."""
