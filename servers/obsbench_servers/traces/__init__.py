"""The traces MCP server: search, topology, critical paths and compressed span trees.

Progressive disclosure, as Jaeger's MCP design proposes: find slow or failing
traces (with the window's latency distribution), then the call graph, then
one trace's critical path and compressed tree, then the details of a few
spans. The analysis modules (``tree``, ``critical_path``, ``compress``,
``compare``, ``dependencies``, ``breakdown``) work on the backend-neutral
``Span`` of ``model`` and know nothing of Jaeger, Tempo or the store.
"""
