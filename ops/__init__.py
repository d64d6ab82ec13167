"""Operator commands for the data layer: ``python -m ops migrate|backup|restore|access|status``."""
