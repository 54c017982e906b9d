"""Logs backend adapters: Loki, Elasticsearch/OpenSearch, Azure Data Explorer, embedded."""
