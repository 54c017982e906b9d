"""The infra MCP server: Kubernetes status, rollouts, usage and right-sizing, events.

The analysis modules (``status``, ``changes``, ``usage``, ``rightsizing``, ``autoscaling``,
``probes``, ``events``) read raw Kubernetes objects and samples, whichever backend (the
API or a bundle) supplied them. See docs/infra.md.
"""
