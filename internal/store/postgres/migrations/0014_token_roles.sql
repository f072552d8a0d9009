-- Token roles (version 14): a token is an operator (the server: tenants, tokens of every
-- tenant, server-wide metrics), a tenant admin (its own tenant's tokens) or a member. The
-- admin flag it replaces meant the whole server. What an existing token becomes:
-- an admin token of tenant "default" (the bootstrap token and those its holder made there)
-- becomes an operator; an admin token of any other tenant becomes that tenant's admin; any
-- other token a member. docs/api.md ("Roles") says the same.
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('operator', 'admin', 'member'));
UPDATE api_tokens SET role = CASE
    WHEN NOT admin THEN 'member'
    WHEN tenant_id IN (SELECT id FROM tenants WHERE name = 'default') THEN 'operator'
    ELSE 'admin'
END;
ALTER TABLE api_tokens DROP COLUMN admin;
