"""Exit codes shared by every ``python -m ops`` command, so scripts can rely on them."""

OK = 0
ERROR = 1
"""A migration, database or AWS error: a statement failed, cannot connect, endpoint unreachable."""
USAGE = 2
"""Bad input: unknown command, missing database URL, bad migration file, a restore onto the live
resource, a malformed ARN."""
DIRTY = 3
"""The database is dirty: a non-transactional migration stopped midway."""
JOB_FAILED = 4
"""A backup or restore job ended FAILED, ABORTED, EXPIRED or PARTIAL (``--wait``, ``status``)."""
AWS_AUTH = 5
"""No usable AWS credentials, or access denied (the message names the missing action)."""
NOT_FOUND = 6
"""Not there: stack not deployed in that region, unknown job, table, cluster or recovery point."""
UNHEALTHY = 7
"""``status``: an alarm in ALARM, a dirty schema, a backup older than allowed, a failed stack."""
LOCKED = 8
"""``migrate``: another migration run (golang-migrate's ``migrate``, or this engine) held the
migration lock for longer than ``--lock-wait``."""
BLOCKED = 9
"""``guard``: the deploy would replace, remove or unprotect a stateful resource (a finding not
accepted with ``--allow``)."""
INTERRUPTED = 130

HELP = """\
exit codes:
  0    success (including "nothing to do")
  1    migration, database or AWS error (a statement failed, cannot connect, endpoint unreachable)
  2    usage or bad input (unknown command, missing database URL, bad migration file,
       restore target equal to the live resource, malformed ARN)
  3    database is dirty: a non-transactional migration stopped midway; fix it, then `force`
  4    backup/restore job failed, aborted, expired or partial (backup status, --wait)
  5    AWS credentials missing or expired, or access denied (the missing action is named)
  6    not found: stack not deployed in that region, unknown job, table, cluster, backup
  7    status: not healthy (an alarm in ALARM, a dirty schema, a backup too old, ...)
  8    migrate: another migration run (golang-migrate's `migrate`, or this one) held the
       migration lock past --lock-wait; nothing was applied while waiting
  9    guard: the deploy would replace, remove or unprotect a stateful resource
       (a blocking finding not accepted with --allow); nothing was deployed
  130  interrupted (Ctrl-C)
"""
