"""Reusable constructs of the data layer, one per logical unit.

Named ``data_constructs`` because a top-level ``constructs`` package would shadow
the ``constructs`` library that aws-cdk-lib itself imports.
"""
