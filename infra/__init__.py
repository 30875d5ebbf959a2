"""Wiring shared by the worker and the API: settings, the Temporal client, payload codec."""
