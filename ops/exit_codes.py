"""Exit codes shared by every ``python -m ops`` command, so scripts can rely on them."""

OK = 0
ERROR = 1
"""A migration or database error: a statement failed, an edited migration, cannot connect."""
USAGE = 2
"""Bad input: unknown command, missing database URL, bad migration file or version."""
DIRTY = 3
"""The database is dirty: a non-transactional migration stopped midway."""
INTERRUPTED = 130

HELP = """\
exit codes:
  0    success (including "nothing to do")
  1    migration or database error (a statement failed, edited migration, cannot connect)
  2    usage or bad input (unknown command, missing database URL, bad migration file)
  3    database is dirty: a non-transactional migration stopped midway; fix it, then `force`
  130  interrupted (Ctrl-C)
"""
