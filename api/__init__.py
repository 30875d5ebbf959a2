"""HTTP API (docs/http-api.md): auth, validation and problem+json around workflow commands."""
