"""Development-only code: `make run`'s launcher, its demo data and tokens, and the harness the
tests and the bench share. Not a package the production image ships, and nothing there imports it.
"""
