"""The application's data access: the standards' DynamoDB and PostgreSQL patterns.

* `appdata.keys`: the single table's key and index names and key builders (no AWS
  imports; the CDK construct takes its names from here, so both sides agree).
* `appdata.dynamo`: the DynamoDB access patterns over a boto3 client. No Scan.
* `appdata.postgres`: the PostgreSQL query patterns over psycopg.

Nothing here imports aws_cdk.
"""
