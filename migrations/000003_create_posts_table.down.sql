-- squawk-ignore-file ban-drop-table
-- (dropping what the up file created is what a down file is for)
DROP TABLE IF EXISTS posts;
