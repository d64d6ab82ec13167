-- squawk-ignore-file ban-drop-table
-- (dropping what the up file created is what a down file is for)
-- No CASCADE: if a later migration's objects still depend on users, fail loudly
-- instead of silently dropping them. The indexes go with the table.
DROP TABLE IF EXISTS users;
