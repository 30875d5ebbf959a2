"""The harness `make run`, the tests and the bench share: free ports, child processes with log
files, PostgreSQL and SQLite databases migrated to head, and development tokens.

Nothing here runs in production; the production image never imports it.
"""
