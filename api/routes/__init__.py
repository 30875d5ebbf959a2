"""One router per resource of docs/http-api.md."""
