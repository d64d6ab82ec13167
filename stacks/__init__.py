"""Deployable units: stacks compose constructs and grant between them, nothing more."""
