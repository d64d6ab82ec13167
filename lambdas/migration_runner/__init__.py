"""The schema-migration custom resource: ``handler.on_event`` behind ``custom_resources.Provider``.

Deliberately empty: importing the package must not pull in boto3 or the
engine, so that ``runner`` stays importable on its own.
"""
