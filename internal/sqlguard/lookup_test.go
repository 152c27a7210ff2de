package sqlguard_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pgherd/pgherd/internal/access"
	"github.com/pgherd/pgherd/internal/sqlguard"
)

// render lists a Lookup compactly: f:name/args, o:name (p: prefix), .field,
// t:type, r:relation (w: written), each with its position.
func render(l *sqlguard.Lookup) []string {
	if l == nil {
		return nil
	}
	var out []string
	for _, f := range l.Functions {
		out = append(out, fmt.Sprintf("f:%s/%d%s@%d", f.Name, f.Args, f.Open, f.Position))
	}
	for _, o := range l.Operators {
		p := ""
		if o.Prefix {
			p = "p"
		}
		out = append(out, fmt.Sprintf("o:%s%s/%s@%d", p, o.Name, o.Open, o.Position))
	}
	for _, f := range l.Fields {
		out = append(out, fmt.Sprintf(".%s@%d", f.Name, f.Position))
	}
	for _, ty := range l.Types {
		out = append(out, fmt.Sprintf("t:%s@%d", strings.TrimPrefix(ty.Schema+"."+ty.Name, "."), ty.Position))
	}
	for _, r := range l.Relations {
		w := ""
		if r.Write {
			w = "w"
		}
		out = append(out, fmt.Sprintf("r%s:%s@%d", w, strings.TrimPrefix(r.Schema+"."+r.Name, "."), r.Position))
	}
	return out
}

// TestLookup pins what the validator hands to the catalog lookup (class 3
// of issue #7): unqualified calls and operators, the operators the grammar
// implies, names selected from rows, types and relations.
func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		mode string
		want []string
	}{
		{"SELECT 1", "user_ro", nil},
		{"SELECT lower(name) FROM accounts", "user_ro", []string{"f:lower/1.@8", "r:accounts@25"}},
		{"SELECT pg_catalog.lower(name) FROM public.accounts", "user_ro", []string{"r:public.accounts@36"}},
		{"SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY id) FROM t", "user_ro",
			[]string{"f:count/0@8", "f:percentile_cont/2..@18", "r:t@71"}},
		{"SELECT 'a' ### 'b', -x, x IN (1, 2), x NOT IN (3), y BETWEEN 1 AND 2, z LIKE 'a%' FROM t", "user_ro",
			[]string{"o:###/uu@12", "o:<=/..@54", "o:<>/..@40", "o:=/..@27", "o:>=/..@54", "o:p-/.@21", "o:~~/uu@73", "r:t@88"}},
		{"SELECT 1 OPERATOR(pg_catalog.+) 1", "user_ro", nil},
		{"SELECT CASE status WHEN 'a' THEN 1 END FROM t JOIN u USING (id)", "user_ro",
			[]string{"o:=/..@54", "o:=/uu@8", "r:t@45", "r:u@52"}},
		{"SELECT x FROM t WHERE x = ANY (SELECT y FROM u) AND x IN (SELECT y FROM u)", "user_ro",
			[]string{"o:=/..@25", "r:t@15", "r:u@46"}},
		{"SELECT a.peek_row, (a).other, a.* FROM accounts a", "user_ro",
			[]string{".other@21", ".peek_row@8", "r:accounts@40"}},
		{"SELECT 'x'::label_text, NULL::public.accounts, '1'::int", "user_ro",
			[]string{"t:label_text@13", "t:pg_catalog.int4@53", "t:public.accounts@31"}},
		{"INSERT INTO labels (id, label) SELECT id, title FROM docs", "user_rw",
			[]string{"r:docs@54", "r:labels@13", "rw:labels@13"}},
		{"WITH d AS (SELECT 1) UPDATE t SET a = 1 FROM d", "user_rw", []string{"r:t@29", "rw:t@29"}},
		{"SELECT lower(name) FROM accounts", "admin_rw", nil},
		{"EXPLAIN SELECT upper(name) FROM accounts", "admin_ro", []string{"f:upper/1.@16", "r:accounts@33"}},
	} {
		v, err := sqlguard.Validate(tc.sql, opts(modeOf(tc.mode)))
		if err != nil {
			t.Errorf("Validate(%q, %s) = %v", tc.sql, tc.mode, err)
			continue
		}
		got := render(v.Lookup)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Validate(%q, %s).Lookup = %q, want %q", tc.sql, tc.mode, got, tc.want)
		}
	}
	ev, err := sqlguard.ValidateExplain("SELECT a.peek_row FROM accounts a", opts(userRO), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := render(ev.Lookup); !slices.Contains(got, ".peek_row@8") {
		t.Errorf("ValidateExplain lookup = %q, want the field peek_row", got)
	}
}

func modeOf(s string) access.Mode {
	for _, x := range access.Modes {
		if string(x) == s {
			return x
		}
	}
	panic(s)
}

// TestJudge pins which candidates refuse a statement: code outside
// pg_catalog unless it is the server's own (C, internal, or a member of an
// extension a superuser owns); through attribute notation, anything outside
// pg_catalog.
func TestJudge(t *testing.T) {
	v, err := sqlguard.Validate("SELECT lower(a), a.peek_row, 'x' ### 'y' FROM accounts a", opts(userRO))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		found  []sqlguard.Candidate
		refuse string // substring of the message; "" allows
		pos    int
	}{
		{"nothing found", nil, "", 0},
		{"sql overload", []sqlguard.Candidate{{Kind: sqlguard.CandidateFunction, Name: "lower", Function: "public.lower(accounts)", Schema: "public", Language: "sql"}},
			"may resolve to public.lower(accounts) (language sql)", 8},
		{"c overload (an extension's)", []sqlguard.Candidate{{Kind: sqlguard.CandidateFunction, Name: "lower", Function: "public.lower(citext)", Schema: "public", Language: "c"}},
			"", 0},
		{"sql member of a superuser's extension", []sqlguard.Candidate{{Kind: sqlguard.CandidateFunction, Name: "lower", Function: "public.lower(citext)", Schema: "public", Language: "sql", Extension: true}},
			"", 0},
		{"c function through attribute notation", []sqlguard.Candidate{{Kind: sqlguard.CandidateField, Name: "peek_row", Function: "public.peek_row(accounts)", Schema: "public", Language: "c"}},
			"attribute notation", 18},
		{"operator", []sqlguard.Candidate{{Kind: sqlguard.CandidateOperator, Name: "###", Via: "operator public.###(text,text)", Function: "public.peek_op(text,text)", Schema: "public", Language: "sql"}},
			"OPERATOR(pg_catalog.###)", 34},
		{"the first in the text", []sqlguard.Candidate{
			{Kind: sqlguard.CandidateOperator, Name: "###", Via: "operator public.###(text,text)", Function: "public.peek_op(text,text)", Schema: "public", Language: "plpgsql"},
			{Kind: sqlguard.CandidateFunction, Name: "lower", Function: "public.lower(accounts)", Schema: "public", Language: "sql"},
		}, "function lower", 8},
		{"built-in", []sqlguard.Candidate{{Kind: sqlguard.CandidateFunction, Name: "lower", Function: "lower(text)", Schema: "pg_catalog", Language: "internal"}}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Judge(tc.found)
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("Judge = %v, want allowed", err)
				}
				return
			}
			var e *sqlguard.Error
			if !errors.As(err, &e) || e.Reason != sqlguard.CodeNotAllowed {
				t.Fatalf("Judge = %v, want code_not_allowed", err)
			}
			if !strings.Contains(e.Message, tc.refuse) || e.Position != tc.pos {
				t.Errorf("Judge = %q at %d, want %q at %d", e.Message, e.Position, tc.refuse, tc.pos)
			}
		})
	}
	rw, err := sqlguard.Validate("SELECT lower(a) FROM accounts a", sqlguard.Options{Mode: adminRW})
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.Judge([]sqlguard.Candidate{{Kind: sqlguard.CandidateFunction, Name: "lower", Schema: "public", Language: "sql"}}); err != nil {
		t.Errorf("admin_rw Judge = %v, want nil", err)
	}
}
