"""The document store's collections and their indexes, defined once, and brought to a database.

A library with no CDK imports, used by ``python -m ops documents``, the tests and
the repository in `appdata.mongo`:

* `documents.collections`: the collections and their declared indexes (the
  standards' ``users``: unique ``email``, unique ``cognito_id`` for the users that
  have one, ``created_at`` descending);
* `documents.indexes`: what a database lacks or holds differently (``plan``), and
  creating what it lacks (``apply``); an index that differs is never dropped.
"""
