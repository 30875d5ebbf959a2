"""Workflows: they decide and wait; every effect happens in an activity."""
