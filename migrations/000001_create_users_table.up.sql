-- Users, as in the database standards' base table structure.
CREATE TABLE IF NOT EXISTS users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    deleted_at TIMESTAMP WITH TIME ZONE, -- soft delete

    email VARCHAR(255) UNIQUE NOT NULL,
    name VARCHAR(100) NOT NULL,
    cognito_id VARCHAR(255) UNIQUE,
    role VARCHAR(50) DEFAULT 'user',

    -- The standards wrote the TLD class as [A-Z|a-z]; inside brackets "|" is a literal,
    -- so it accepted addresses such as "a@b.c|m". [A-Za-z] is what was meant.
    CONSTRAINT valid_email CHECK (email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$')
);

CREATE INDEX IF NOT EXISTS idx_users_email ON users (email) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_users_cognito ON users (cognito_id) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_users_created ON users (created_at DESC);
