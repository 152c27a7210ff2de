-- Fixture for the attack corpus in vectors.yaml.
--
-- Run it in a fresh database as the role that will own the objects (the
-- admin_rw role in the end-to-end replay; a superuser works too). It needs
-- CREATE on the database and on schema public, nothing more: no superuser,
-- no extension, no role. The header of vectors.yaml lists the privileges the
-- four mode roles are assumed to have on these objects.

CREATE TYPE public.priority AS ENUM ('low', 'normal', 'high');

CREATE TABLE public.accounts (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant     text NOT NULL,
    name       text NOT NULL,
    email      text NOT NULL UNIQUE,
    balance    numeric(12, 2) NOT NULL DEFAULT 0,
    status     text NOT NULL DEFAULT 'active',
    created_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
);

CREATE TABLE public.orders (
    id         serial PRIMARY KEY,
    account_id integer NOT NULL REFERENCES public.accounts (id),
    amount     numeric(12, 2) NOT NULL,
    status     text NOT NULL,
    priority   public.priority NOT NULL DEFAULT 'normal',
    items      jsonb NOT NULL DEFAULT '[]',
    tags       text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL
);
CREATE INDEX orders_account_id_idx ON public.orders (account_id);
CREATE INDEX orders_created_at_idx ON public.orders (created_at);

-- A table of the user's own whose name starts with pg_: reachable as
-- public.pg_notes only (unqualified pg_* names resolve to pg_catalog first).
CREATE TABLE public.pg_notes (
    id   integer PRIMARY KEY,
    body text NOT NULL
);

-- Per-tenant rows behind row-level security: each tenant sees only its
-- marker once the executor sets app.tenant_id for the call.
CREATE TABLE public.documents (
    id     integer PRIMARY KEY,
    tenant text NOT NULL,
    title  text NOT NULL,
    body   text NOT NULL
);
ALTER TABLE public.documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY documents_tenant ON public.documents
    USING (tenant = current_setting('app.tenant_id', true));

CREATE SEQUENCE public.invoice_seq START 1000;

CREATE VIEW public.account_totals AS
SELECT a.id, a.name, a.tenant, count(o.id) AS orders, coalesce(sum(o.amount), 0) AS total
FROM public.accounts a
LEFT JOIN public.orders o ON o.account_id = a.id
GROUP BY a.id, a.name, a.tenant;

-- A function with a side effect, callable by anyone with EXECUTE (the
-- default): the validator must keep it out of the read-only and user modes.
CREATE FUNCTION public.log_note(msg text) RETURNS integer
LANGUAGE sql VOLATILE AS $$
    INSERT INTO public.pg_notes (id, body)
    SELECT coalesce(max(id), 0) + 1, msg FROM public.pg_notes
    RETURNING id
$$;

-- A harmless pure function: still refused in the validated modes, which call
-- built-in functions only.
CREATE FUNCTION public.double_it(x numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2 $$;

CREATE PROCEDURE public.reset_balances()
LANGUAGE sql AS $$ UPDATE public.accounts SET balance = 0 $$;

-- A function on the accounts row type: PostgreSQL also calls it through
-- attribute notation (SELECT a.touch_account FROM accounts a), which is a
-- column reference in the parse tree, not a function call the validator can
-- see. The database layer closes that gap: the mode roles get no EXECUTE on
-- the owner's functions.
CREATE FUNCTION public.touch_account(a public.accounts) RETURNS integer
LANGUAGE sql VOLATILE AS $$
    INSERT INTO public.pg_notes (id, body)
    SELECT coalesce(max(id), 0) + 1, 'touched ' || a.name FROM public.pg_notes
    RETURNING id
$$;

-- No REVOKE EXECUTE here: roles.Harden revokes EXECUTE on the owner's
-- routines from PUBLIC, and its default privileges cover the ones created
-- below (the replay hardens the database before loading this file).

CREATE SCHEMA secret;
CREATE TABLE secret.tokens (
    tenant text NOT NULL,
    token  text NOT NULL
);

-- Owner code that PostgreSQL runs without a call the function allow-list
-- sees (issue #7, class 3). Each piece is SECURITY DEFINER and shows what
-- the caller may not read: peek() returns the titles of every documents row
-- (the owner is not subject to the table's row-level security) and the
-- secret tokens. A statement that runs any of them leaks both; the
-- validator must refuse every such statement in every validated mode,
-- whatever the login role may execute.
CREATE FUNCTION public.peek() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT (SELECT string_agg(title, ',' ORDER BY id) FROM public.documents) || ' | ' ||
           (SELECT string_agg(token, ',' ORDER BY tenant) FROM secret.tokens)
$$;

-- A public overload of an allow-listed name, on the accounts row type:
-- lower(a) resolves to it, not to pg_catalog.lower(text).
CREATE FUNCTION public.lower(a public.accounts) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT public.peek() $$;

-- An overload of an allow-listed name on an enum: upper(priority) has no
-- built-in match at all, so PostgreSQL picks this one.
CREATE FUNCTION public.upper(p public.priority) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT public.peek() $$;

-- Allow-listed names that pg_catalog lacks on older servers (casefold is
-- PostgreSQL 18's): on PostgreSQL 15 the call resolves here.
CREATE FUNCTION public.casefold(t text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT public.peek() $$;

-- SQL/JSON constructors are syntax in the validator's grammar (PostgreSQL
-- 16 and 17) and plain function calls on PostgreSQL 15, where these run.
CREATE FUNCTION public.json_array(i integer) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT public.peek() $$;
CREATE FUNCTION public.json_scalar(i integer) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT public.peek() $$;

-- Attribute notation: a.peek_row is peek_row(a).
CREATE FUNCTION public.peek_row(a public.accounts) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT public.peek() $$;

-- An operator whose implementation is owner code.
CREATE FUNCTION public.peek_op(a text, b text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT public.peek() $$;
CREATE OPERATOR public.### (LEFTARG = text, RIGHTARG = text, FUNCTION = public.peek_op);

-- A cast the owner defined: priority::text runs it (explicit casts only).
CREATE FUNCTION public.priority_text(p public.priority) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER AS $$ SELECT public.peek() $$;
CREATE CAST (public.priority AS text) WITH FUNCTION public.priority_text(public.priority);

-- An implicit cast: score + 1 converts score to integer through it. It
-- raises the secrets in its error (an integer cannot carry them).
CREATE TYPE public.stars AS ENUM ('one', 'two', 'three');
CREATE FUNCTION public.stars_weight(s public.stars) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
BEGIN
    RAISE EXCEPTION 'stars: %', public.peek();
END
$$;
CREATE CAST (public.stars AS integer) WITH FUNCTION public.stars_weight(public.stars) AS IMPLICIT;
CREATE TABLE public.ratings (
    id    integer PRIMARY KEY,
    score public.stars NOT NULL
);

-- A domain whose CHECK calls owner code: casting to it, or writing a
-- labels row, runs label_ok.
CREATE FUNCTION public.label_ok(v text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER AS $$
BEGIN
    IF v = 'peek' THEN
        RAISE EXCEPTION 'label: %', public.peek();
    END IF;
    RETURN true;
END
$$;
CREATE DOMAIN public.label_text AS text CHECK (public.label_ok(VALUE));
CREATE TABLE public.labels (
    id    integer PRIMARY KEY,
    label public.label_text NOT NULL
);

INSERT INTO public.accounts (tenant, name, email, balance, status, created_at) VALUES
    ('tenant_a', 'Ada',     'ada@a.example',     120.50, 'active', '2024-01-03 10:00:00+00'),
    ('tenant_a', 'Brendan', 'brendan@a.example', 0,      'closed', '2024-02-11 09:30:00+00'),
    ('tenant_a', 'Chen',    'chen@a.example',    99.99,  'active', '2024-03-15 14:45:00+00'),
    ('tenant_b', 'Dara',    'dara@b.example',    1500,   'active', '2024-01-20 08:00:00+00'),
    ('tenant_b', 'Emeka',   'emeka@b.example',   42,     'active', '2024-04-01 16:20:00+00');

INSERT INTO public.orders (account_id, amount, status, priority, items, tags, created_at)
SELECT 1 + (g % 5),
       round((10 + (g * 37) % 490)::numeric, 2),
       (ARRAY['paid', 'paid', 'shipped', 'refunded'])[1 + g % 4],
       (ARRAY['low', 'normal', 'normal', 'high'])[1 + g % 4]::public.priority,
       jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (g % 17), 'qty', 1 + g % 3)),
       ARRAY['t' || (g % 3)],
       timestamptz '2024-01-01 00:00:00+00' + g * interval '7 hours'
FROM generate_series(1, 500) AS g;

INSERT INTO public.pg_notes (id, body) VALUES (1, 'first note');
INSERT INTO public.ratings (id, score) VALUES (1, 'two');
INSERT INTO public.labels (id, label) VALUES (1, 'first');

INSERT INTO public.documents (id, tenant, title, body) VALUES
    (1, 'tenant_a', 'tenant_a_marker', 'only tenant_a may read this row'),
    (2, 'tenant_b', 'tenant_b_marker', 'only tenant_b may read this row');

INSERT INTO secret.tokens (tenant, token) VALUES
    ('tenant_a', 'tenant_a_marker-secret-token'),
    ('tenant_b', 'tenant_b_marker-secret-token');

ANALYZE;
