package catalog

// The owner-code lookup's queries as they were before issue #14 made them
// cheap (prefilters on OIDs at or above firstNormalOID, the candidates'
// facts computed once per row found, the functions-and-operators query
// left out when the statement names none). They are the reference the
// current queries must agree with, row for row, with one deliberate
// difference: refHotCodeSQL misses a domain DEFAULT that calls owner code
// through an operator (TestResolveDomainDefaultThroughOperator), which
// TestResolveMatchesReference's fixture therefore does not hold.

const refNamedCodeSQL = `WITH path AS (
	SELECT n.oid FROM pg_catalog.pg_namespace n
	 WHERE n.nspname = ANY (pg_catalog.current_schemas(true)) AND n.nspname <> 'pg_catalog'
)
SELECT 'function', p.proname::pg_catalog.text, p.pronargs::pg_catalog.int4, p.pronargdefaults::pg_catalog.int4, p.provariadic <> 0::pg_catalog.oid, false,
       ARRAY(SELECT CASE WHEN t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace::pg_catalog.oid THEN 0::pg_catalog.oid ELSE t.oid END
               FROM ROWS FROM (pg_catalog.unnest(p.proargtypes::pg_catalog.oid[])) WITH ORDINALITY AS a(oid, n)
               JOIN pg_catalog.pg_type t ON t.oid = a.oid ORDER BY a.n), '',
       ` + refCodeFacts + `
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE (p.proname = ANY ($1::pg_catalog.name[]) OR p.proname = ANY ($2::pg_catalog.name[]))
   AND p.pronamespace IN (SELECT oid FROM path)
UNION ALL
SELECT 'operator', o.oprname::pg_catalog.text, 0, 0, false, o.oprleft = 0::pg_catalog.oid,
       ARRAY(SELECT CASE WHEN t.typnamespace = 'pg_catalog'::pg_catalog.regnamespace::pg_catalog.oid THEN 0::pg_catalog.oid ELSE t.oid END
               FROM ROWS FROM (pg_catalog.unnest(ARRAY[x.oprleft, x.oprright])) WITH ORDINALITY AS a(oid, n)
               JOIN pg_catalog.pg_type t ON t.oid = a.oid ORDER BY a.n),
       'operator ' || x.oid::pg_catalog.regoperator::pg_catalog.text,
       ` + refCodeFacts + `
  FROM pg_catalog.pg_operator o
  JOIN pg_catalog.pg_operator x ON x.oid IN (o.oid, o.oprcom, o.oprnegate)
  JOIN pg_catalog.pg_proc p ON p.oid = x.oprcode
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE o.oprname = ANY ($3::pg_catalog.name[]) AND o.oprnamespace IN (SELECT oid FROM path)
   AND n.nspname <> 'pg_catalog'`

const refCodeFacts = `p.oid::pg_catalog.regprocedure::pg_catalog.text, n.nspname::pg_catalog.text, l.lanname::pg_catalog.text,
       EXISTS (SELECT FROM pg_catalog.pg_depend e
                WHERE e.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid AND e.objid = p.oid AND e.deptype = 'e')
         AND coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = p.proowner), false)`

const refHotCodeSQL = `SELECT 'cast', c.castsource, c.casttarget, c.castcontext::pg_catalog.text,
       ts.typnamespace = 'pg_catalog'::pg_catalog.regnamespace::pg_catalog.oid,
       'cast from ' || pg_catalog.format_type(c.castsource, NULL) || ' to ' || pg_catalog.format_type(c.casttarget, NULL),
       ` + refCodeFacts + `
  FROM pg_catalog.pg_cast c
  JOIN pg_catalog.pg_type ts ON ts.oid = c.castsource
  JOIN pg_catalog.pg_proc p ON p.oid = c.castfunc
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE n.nspname <> 'pg_catalog'
UNION ALL
SELECT 'domain', k.contypid, 0::pg_catalog.oid, '', false,
       'CHECK constraint ' || pg_catalog.quote_ident(k.conname::pg_catalog.text) || ' of domain ' || k.contypid::pg_catalog.regtype::pg_catalog.text,
       ` + refCodeFacts + `
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass::pg_catalog.oid AND d.objid = k.oid
  LEFT JOIN pg_catalog.pg_operator o ON d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass::pg_catalog.oid AND o.oid = d.refobjid
  JOIN pg_catalog.pg_proc p ON p.oid = CASE WHEN d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid THEN d.refobjid
                                            ELSE o.oprcode::pg_catalog.oid END
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE k.contypid <> 0::pg_catalog.oid AND n.nspname <> 'pg_catalog'
UNION ALL
SELECT 'domain', t.oid, 0::pg_catalog.oid, '', false, 'default of domain ' || t.oid::pg_catalog.regtype::pg_catalog.text,
       ` + refCodeFacts + `
  FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid AND d.objid = t.oid
   AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass::pg_catalog.oid
  JOIN pg_catalog.pg_proc p ON p.oid = d.refobjid
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE t.typtype = 'd' AND t.typdefaultbin IS NOT NULL AND n.nspname <> 'pg_catalog'`
