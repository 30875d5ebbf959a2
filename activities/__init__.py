"""Activities: one effect each, idempotent by a unique key, through injected adapters."""
