"""The application's data access: the standards' DynamoDB, PostgreSQL and MongoDB patterns.

* `appdata.keys`: the single table's key and index names and key builders (no AWS
  imports; the CDK construct takes its names from here, so both sides agree).
* `appdata.dynamo`: the DynamoDB access patterns over a boto3 client. No Scan.
* `appdata.postgres`: the PostgreSQL query patterns over psycopg.
* `appdata.mongo`: the MongoDB users patterns over pymongo (indexes: `documents`).
* `appdata.paging`: a page of a limit/offset listing, for both.

Nothing here imports aws_cdk.
"""
