-- squawk-ignore-file ban-drop-function
-- (dropping what the up file created is what a down file is for)
DROP TRIGGER IF EXISTS update_users_updated_at ON users;
DROP FUNCTION IF EXISTS update_updated_at_column();
