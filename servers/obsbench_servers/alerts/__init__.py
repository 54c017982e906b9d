"""The alerts MCP server: firing alerts, incidents, timelines and runbooks; confirmed writes.

Reads merge every configured source (Alertmanager, PagerDuty, Prometheus, a bundle);
writes exist only when the profile enables them and each needs a person's confirmation
(``common.confirm``). See docs/alerts.md.
"""
