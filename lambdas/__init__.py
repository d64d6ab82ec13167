"""Lambda function sources, one subpackage per function.

Each subpackage is copied as-is into its function's asset (without this
parent package), so modules inside import each other relatively and import
only what the asset ships; the repository root imports them as
``lambdas.<function>`` for the tests.
"""
