"""Application database roles: declared in configuration, reconciled in the database.

A library with no CDK imports, shared by the migration-runner Lambda (over the
RDS Data API, after every deploy's migrations), ``python -m ops access`` and
``make local`` (over psycopg). Like ``dbmigrate``, it speaks only the
``dbmigrate.transport.Transport`` protocol.

* `dbaccess.roles`: what a role is (name, access level), validated, with the
  checksum the custom resource carries;
* `dbaccess.levels`: what each access level may do, object class by class;
* `dbaccess.catalog`: the database's current roles and privileges, in one query;
* `dbaccess.plan`: the statements that take the catalog to the roles (pure);
* `dbaccess.reconcile`: plan or apply, in one transaction, verified afterwards.
"""
