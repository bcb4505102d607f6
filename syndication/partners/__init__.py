"""Partners: the registry synced from configuration (registry.py) and their push API keys (keys.py)."""
