"""Alert source adapters: each translates one wire API into ``alerts.backend``'s vocabulary."""
