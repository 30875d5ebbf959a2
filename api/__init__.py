"""HTTP API (SPEC section 6): auth, validation and problem+json around workflow commands."""
