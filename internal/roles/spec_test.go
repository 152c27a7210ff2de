package roles

import (
	"strings"
	"testing"
	"time"

	"github.com/pgherd/pgherd/internal/access"
)

func TestStatementsRefusesBadSpecs(t *testing.T) {
	ok := Spec{Role: "app_ro", Password: "pw", Mode: access.UserRO, Database: "app", Owner: "app_owner"}
	tests := []struct {
		name   string
		change func(*Spec)
		want   []string // substrings of the error
	}{
		{"empty role", func(s *Spec) { s.Role = "" }, []string{"Role: empty"}},
		{"reserved role", func(s *Spec) { s.Role = "pg_monitor" }, []string{`Role: "pg_monitor" is reserved`}},
		{"public", func(s *Spec) { s.Role = "PUBLIC" }, []string{"is reserved"}},
		{"long role", func(s *Spec) { s.Role = strings.Repeat("r", 64) }, []string{"64 bytes", "at most 63"}},
		{"NUL in role", func(s *Spec) { s.Role = "a\x00b" }, []string{`"a\x00b" contains a NUL byte`}},
		{"bad mode", func(s *Spec) { s.Mode = "admin" }, []string{`Mode: "admin" is not one of user_ro, user_rw, admin_ro, admin_rw`}},
		{"empty database", func(s *Spec) { s.Database = "" }, []string{"Database: empty"}},
		{"no owner", func(s *Spec) { s.Owner = "" }, []string{"Owner: empty; name the role that owns"}},
		{"owner is role", func(s *Spec) { s.Owner = s.Role }, []string{"must own nothing", "admin_rw"}},
		{"admin_rw other owner", func(s *Spec) { s.Mode = access.AdminRW }, []string{`Owner: "app_owner" differs from Role "app_ro"`}},
		{"NUL in password", func(s *Spec) { s.Password = "p\x00w" }, []string{"Password: contains a NUL byte"}},
		{"bad UTF-8 password", func(s *Spec) { s.Password = "\xff" }, []string{"Password: is not valid UTF-8"}},
		{"sub-ms timeout", func(s *Spec) { s.StatementTimeout = time.Microsecond }, []string{"StatementTimeout: 1µs is below"}},
		{"negative timeout", func(s *Spec) { s.IdleInTransactionTimeout = -time.Second }, []string{"IdleInTransactionTimeout: -1s is below"}},
		{"temp file limit", func(s *Spec) { s.TempFileLimit = "256MB'; DROP" }, []string{"TempFileLimit: ", "is not a size"}},
		{"negative connection limit", func(s *Spec) { s.ConnectionLimit = -1 }, []string{"ConnectionLimit: -1"}},
		{"several at once", func(s *Spec) { s.Role, s.Database = "", "" }, []string{"Role: empty", "Database: empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.change(&s)
			stmts, err := Statements(s)
			if err == nil {
				t.Fatalf("Statements(%+v) = %d statements, want an error", s, len(stmts))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Statements(%+v) error = %q, want it to contain %q", s, err, w)
				}
			}
			if s.Password != "" && strings.Contains(err.Error(), s.Password) && s.Password != "pw" {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
	if _, err := Statements(ok); err != nil {
		t.Fatalf("Statements(%+v): %v", ok, err)
	}
}

func TestStatementsSettings(t *testing.T) {
	stmts, err := Statements(Spec{Role: "r", Mode: access.AdminRW, Database: "d",
		StatementTimeout: 1500 * time.Millisecond, IdleInTransactionTimeout: 2 * time.Hour,
		TempFileLimit: "-1", ConnectionLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(stmts, "\n")
	for _, want := range []string{
		`ALTER ROLE "r" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT 5` + "\n",
		`ALTER ROLE "r" SET statement_timeout = '1500ms'`,
		`ALTER ROLE "r" SET idle_in_transaction_session_timeout = '2h'`,
		`ALTER ROLE "r" SET temp_file_limit = '-1'`,
		`ALTER ROLE "r" RESET default_transaction_read_only`,
		`ALTER DATABASE "d" OWNER TO "r"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("statements lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "PASSWORD") {
		t.Errorf("an empty Password must leave the password alone:\n%s", all)
	}
}

func TestLiteral(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"plain", "'plain'"},
		{"it's", "'it''s'"},
		{`back\slash`, `E'back\\slash'`},
		{`both\'`, `E'both\\'''`},
		{"$$ and %", "'$$ and %'"},
		{"ünïcode", "'ünïcode'"},
	}
	for _, tt := range tests {
		got, err := literal(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("literal(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"a\x00", "\xc3\x28"} {
		if got, err := literal(bad); err == nil {
			t.Errorf("literal(%q) = %q, want an error", bad, got)
		}
	}
}

func TestDollarQuote(t *testing.T) {
	tests := []struct{ body, tag string }{
		{"BEGIN END", "$$"},
		{"x $$ y", "$do$"},
		{"x $$ $do$ y", "$do1$"},
		{"$$ $do$ $do1$", "$do2$"},
	}
	for _, tt := range tests {
		got := dollarQuote(tt.body)
		want := tt.tag + "\n" + tt.body + "\n" + tt.tag
		if got != want {
			t.Errorf("dollarQuote(%q) = %q, want %q", tt.body, got, want)
		}
	}
}

func TestSetting(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{time.Minute, "1min"},
		{90 * time.Second, "90s"},
		{3 * time.Hour, "3h"},
		{250 * time.Millisecond, "250ms"},
		{1500*time.Microsecond + time.Second, "1001ms"},
	}
	for _, tt := range tests {
		if got := setting(tt.d); got != tt.want {
			t.Errorf("setting(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestSummaryHidesPassword(t *testing.T) {
	stmts, err := Statements(Spec{Role: "r", Password: "hunter2 PASSWORD x", Mode: access.AdminRW, Database: "d"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if got := summary(s); strings.Contains(got, "hunter2") {
			t.Errorf("summary(%q) = %q shows the password", s, got)
		}
	}
	long := summary("SELECT " + strings.Repeat("x, ", 100))
	if n := len([]rune(long)); n > 121 {
		t.Errorf("summary is %d runes long", n)
	}
}
