package pg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgherd/pgherd/internal/pgtest"
)

// TestLexingSettingsPinned pins class 2(a) of issue #7: a database or role
// default of standard_conforming_strings = off does not reach pgherd's
// connections (the startup parameters outrank it), so the server reads
// 'a\' as the validator does: a string holding a backslash.
func TestLexingSettingsPinned(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pw := pgtest.CreateRole(t, "pinned_login", "")
	pgtest.Exec(t, db.URI, fmt.Sprintf(`ALTER DATABASE %s SET standard_conforming_strings = off;
		ALTER ROLE pinned_login SET standard_conforming_strings = off;
		ALTER ROLE pinned_login SET backslash_quote = off;
		ALTER ROLE pinned_login SET transform_null_equals = on;
		GRANT CONNECT ON DATABASE %s TO pinned_login`, pgx.Identifier{db.Name}.Sanitize(), pgx.Identifier{db.Name}.Sanitize()))
	uri := pgtest.URIAs(db.Name, "pinned_login", pw)

	// Without pgherd the defaults apply: the same text is another statement.
	ctx := context.Background()
	raw, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	var off string
	if err := raw.QueryRow(ctx, "SHOW standard_conforming_strings").Scan(&off); err != nil || off != "off" {
		t.Fatalf("the role's default did not apply to a plain connection (%q, %v); the test proves nothing", off, err)
	}
	raw.Close(ctx)

	p := newPool(t, uri, PoolOptions{})
	res, err := p.Run(ctx, readOnly, Call{SQL: `SELECT '\' AS a, ' AS b, current_setting($$backslash_quote$$) AS c --' AS d, NULL = NULL AS e`})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{`\`, ` AS b, current_setting($$backslash_quote$$) AS c --`, nil}
	if got := res.Rows[0]; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("row = %q, want %q: the server read the text differently from the validator", got, want)
	}
	for name, value := range PinnedSettings {
		r, err := p.Run(ctx, readOnly, Call{SQL: "SELECT current_setting($1)", Args: []any{name}})
		if err != nil {
			t.Fatal(err)
		}
		if r.Rows[0][0] != value {
			t.Errorf("%s = %v on a pooled connection, want %s", name, r.Rows[0][0], value)
		}
	}
}

// TestLexingSettingChangedRefuses: a connection whose reported
// standard_conforming_strings differs from the pinned value runs no user
// SQL, and is not reused.
func TestLexingSettingChangedRefuses(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := newPool(t, db.URI, PoolOptions{MaxConns: 1})
	ctx := context.Background()
	before := p.Stat().Destroyed
	err := p.Do(ctx, TxOptions{}, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.Conn().Exec(ctx, "SET LOCAL standard_conforming_strings = off"); err != nil {
			return err
		}
		_, err := tx.Query(ctx, Call{SQL: "SELECT 1"})
		return err
	})
	if !errors.Is(err, ErrSettingsChanged) {
		t.Fatalf("Query after the setting changed = %v, want ErrSettingsChanged", err)
	}
	if p.Stat().Destroyed != before+1 {
		t.Errorf("the connection was kept")
	}
	if _, err := p.Run(ctx, readOnly, Call{SQL: "SELECT 1"}); err != nil {
		t.Errorf("the next call fails: %v", err)
	}
}

// TestConnectRecordsServerAndLogin: the facts the validator and the
// privileged-login check need are read at Connect.
func TestConnectRecordsServerAndLogin(t *testing.T) {
	db := pgtest.NewDatabase(t)
	pw := pgtest.CreateRole(t, "facts_plain", "")
	bpw := pgtest.CreateRole(t, "facts_bypass", "BYPASSRLS")
	pgtest.Exec(t, db.URI, "GRANT CONNECT ON DATABASE "+pgx.Identifier{db.Name}.Sanitize()+" TO facts_plain, facts_bypass")
	super := newPool(t, db.URI, PoolOptions{})
	if super.ServerMajor() < 13 || super.Database() != db.Name {
		t.Errorf("ServerMajor = %d, Database = %q; want a version and %q", super.ServerMajor(), super.Database(), db.Name)
	}
	if l := super.Login(); !l.Superuser || !slices.Contains(l.Privileges(), "SUPERUSER") || !l.BypassesRLS() {
		t.Errorf("superuser login = %+v, privileges %q", l, l.Privileges())
	}
	plain := newPool(t, pgtest.URIAs(db.Name, "facts_plain", pw), PoolOptions{})
	if l := plain.Login(); l.Name != "facts_plain" || len(l.Privileges()) != 0 || l.BypassesRLS() {
		t.Errorf("plain login = %+v, privileges %q", l, l.Privileges())
	}
	bypass := newPool(t, pgtest.URIAs(db.Name, "facts_bypass", bpw), PoolOptions{})
	if l := bypass.Login(); !slices.Equal(l.Privileges(), []string{"BYPASSRLS"}) || !l.BypassesRLS() {
		t.Errorf("BYPASSRLS login = %+v, privileges %q", l, l.Privileges())
	}
	pgtest.Exec(t, db.URI, "GRANT pg_read_all_data TO facts_plain")
	member := newPool(t, pgtest.URIAs(db.Name, "facts_plain", pw), PoolOptions{})
	if got := member.Login().Privileges(); !slices.Equal(got, []string{"member of pg_read_all_data"}) {
		t.Errorf("member privileges = %q", got)
	}
	for _, c := range []struct {
		in   string
		want int
	}{{"15.8 (Debian 15.8-1.pgdg120+1)", 15}, {"9.6.24", 9}, {"17devel", 17}, {"", 0}} {
		if got := majorVersion(c.in); got != c.want {
			t.Errorf("majorVersion(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}
