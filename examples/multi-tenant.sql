-- The database behind examples/multi-tenant.yaml: one CRM database shared by
-- the tenants acme and globex, isolated two ways.
--
--   /crm/mcp         each tenant logs in as its own role (acme_login,
--                    globex_login); row-level security keyed on the role.
--   /crm_shared/mcp  one role (crm_agent) for everyone; pgherd sets
--   /crm_sso/mcp     app.tenant_id to the caller's verified tenant before
--                    every statement, and the policy reads it.
--
-- Run it as a superuser, connected to the database you serve:
--   createdb crm && psql -v ON_ERROR_STOP=1 -d crm -f examples/multi-tenant.sql
-- Change the passwords (ALTER ROLE … PASSWORD), and harden the database as
-- docs/security.md describes (REVOKE CONNECT … FROM PUBLIC and the rest).

CREATE ROLE crm_owner NOLOGIN;
CREATE ROLE acme_login LOGIN PASSWORD 'change-me-acme' CONNECTION LIMIT 20;
CREATE ROLE globex_login LOGIN PASSWORD 'change-me-globex' CONNECTION LIMIT 20;
CREATE ROLE crm_agent LOGIN PASSWORD 'change-me-agent' CONNECTION LIMIT 20;

CREATE TABLE public.customers (
  id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant text NOT NULL,
  name   text NOT NULL,
  email  text
);
ALTER TABLE public.customers OWNER TO crm_owner;

-- Row-level security applies to everyone but the owner (and superusers).
-- A policy's USING also checks rows being written: a tenant can neither
-- read nor write another tenant's rows.
ALTER TABLE public.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY acme ON public.customers TO acme_login USING (tenant = 'acme');
CREATE POLICY globex ON public.customers TO globex_login USING (tenant = 'globex');
-- current_setting(…, true) is NULL when the setting is missing: no rows.
CREATE POLICY by_setting ON public.customers TO crm_agent
  USING (tenant = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON public.customers TO acme_login, globex_login;
GRANT SELECT ON public.customers TO crm_agent;

INSERT INTO public.customers (tenant, name, email) VALUES
  ('acme', 'Wile E. Coyote', 'wile@acme.example'),
  ('acme', 'Road Runner Ltd', 'meep@acme.example'),
  ('globex', 'Hank Scorpio', 'hank@globex.example');
