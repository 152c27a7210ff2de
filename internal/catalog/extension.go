package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"
)

const extensionSQL = `SELECT e.extversion, n.nspname::text, e.extrelocatable, d.description, av.default_version,
	pg_get_userbyid(e.extowner)
FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
LEFT JOIN pg_available_extensions av ON av.name = e.extname
LEFT JOIN pg_description d ON d.classoid = 'pg_extension'::regclass AND d.objoid = e.oid AND d.objsubid = 0
WHERE e.oid = $1`

const extensionObjectsSQL = `SELECT CASE dep.classid
		WHEN 'pg_proc'::regclass THEN 'functions'
		WHEN 'pg_type'::regclass THEN 'types'
		WHEN 'pg_class'::regclass THEN 'relations'
		WHEN 'pg_operator'::regclass THEN 'operators'
		WHEN 'pg_opclass'::regclass THEN 'operator_classes'
		WHEN 'pg_opfamily'::regclass THEN 'operator_families'
		WHEN 'pg_cast'::regclass THEN 'casts'
		ELSE 'other' END,
	count(*)::int4
FROM pg_depend dep
WHERE dep.refclassid = 'pg_extension'::regclass AND dep.refobjid = $1 AND dep.deptype = 'e'
GROUP BY 1
ORDER BY 1`

// describeExtension fills d for extension oid.
func describeExtension(ctx context.Context, q Querier, d *Details, oid uint32) error {
	ext := &ExtensionInfo{ObjectsByKind: map[string]int{}}
	d.Extension = ext
	return runSections(ctx, q, []section{
		{name: "extension", sql: extensionSQL, args: []any{oid}, scan: func(rows pgx.Rows) error {
			return eachRow(rows, func() error {
				var desc, defVersion, owner *string
				if err := rows.Scan(&ext.Version, &ext.Schema, &ext.Relocatable, &desc, &defVersion, &owner); err != nil {
					return err
				}
				ext.Description, ext.DefaultVersion, d.Owner = deref(desc), deref(defVersion), deref(owner)
				if ext.DefaultVersion != "" && ext.DefaultVersion != ext.Version {
					d.Notes = append(d.Notes, "version "+ext.DefaultVersion+" is available: ALTER EXTENSION … UPDATE installs it")
				}
				return nil
			})
		}},
		{name: "extension objects", sql: extensionObjectsSQL, args: []any{oid}, scan: func(rows pgx.Rows) error {
			return eachRow(rows, func() error {
				var kind string
				var n int
				if err := rows.Scan(&kind, &n); err != nil {
					return err
				}
				ext.ObjectsByKind[kind] = n
				ext.Objects += n
				return nil
			})
		}},
	})
}
