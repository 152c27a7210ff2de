package pg

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// protocolExempt lists directories (relative to the repository root) whose
// code runs only trusted SQL of its own: the test harness and the local
// cluster. Anything else that needs an exemption must say why here.
var protocolExempt = map[string]string{
	"internal/pgtest":  "test harness: creates and drops test databases",
	"internal/localpg": "starts a throwaway cluster; no user SQL",
	"internal/demo":    "creates the demo databases, roles and schema from its own DDL (identifiers sanitized; DDL takes no parameters)",
	"internal/roles":   "applies the GRANT/REVOKE/CREATE ROLE statements it builds itself (identifiers sanitized; DDL takes no parameters)",
}

// TestNoSimpleProtocol reads every non-test Go file under internal/ and
// fails on anything that could send user SQL through the simple protocol,
// where one string may hold several statements: an Exec call whose SQL
// argument is not a constant, and any mention of the simple protocol mode
// (the Go constant or the default_query_exec_mode connection-string value).
func TestNoSimpleProtocol(t *testing.T) {
	root := filepath.Join("..", "..")
	byDir := map[string][]*ast.File{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		if _, ok := protocolExempt[filepath.ToSlash(rel)]; ok {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			// A file someone is still writing; the compiler will complain.
			t.Logf("skipping %s: %v", path, err)
			return nil
		}
		byDir[filepath.Dir(path)] = append(byDir[filepath.Dir(path)], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, files := range byDir {
		problems = append(problems, protocolProblems(fset, files)...)
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
	if len(byDir) == 0 || byDir[filepath.Join(root, "internal", "pg")] == nil {
		t.Fatal("the scan found no packages; is the repository layout different?")
	}
}

// protocolProblems checks the files of one package.
func protocolProblems(fset *token.FileSet, files []*ast.File) []string {
	consts := map[string]bool{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if d, ok := n.(*ast.GenDecl); ok && d.Tok == token.CONST {
				for _, s := range d.Specs {
					for _, name := range s.(*ast.ValueSpec).Names {
						consts[name.Name] = true
					}
				}
			}
			return true
		})
	}
	var out []string
	report := func(n ast.Node, format string) {
		out = append(out, fset.Position(n.Pos()).String()+": "+format)
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Ident:
				if n.Name == "QueryExecModeSimpleProtocol" {
					report(n, "uses QueryExecModeSimpleProtocol: user SQL must go through the extended protocol (pg.Tx.Query)")
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					if s, err := strconv.Unquote(n.Value); err == nil && strings.Contains(s, "simple_protocol") {
						report(n, "selects the simple protocol in a connection string")
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Exec" || len(n.Args) < 2 {
					return true
				}
				if !isConstString(n.Args[1], consts) {
					report(n, "calls Exec with SQL that is not a constant: Exec may use the simple protocol; "+
						"run user SQL with pg.Tx.Query, trusted SQL with constant text and parameters")
				}
			}
			return true
		})
	}
	return out
}

// isConstString reports whether e is built only from string literals and
// constants declared in the package.
func isConstString(e ast.Expr, consts map[string]bool) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return e.Kind == token.STRING
	case *ast.Ident:
		return consts[e.Name]
	case *ast.ParenExpr:
		return isConstString(e.X, consts)
	case *ast.BinaryExpr:
		return e.Op == token.ADD && isConstString(e.X, consts) && isConstString(e.Y, consts)
	}
	return false
}

// The checker itself must catch what it claims to.
func TestProtocolProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want int
	}{
		{"constant literal", `conn.Exec(ctx, "BEGIN")`, 0},
		{"constant name", `conn.Exec(ctx, beginSQL, a, b)`, 0},
		{"constant concatenation", `conn.Exec(ctx, beginSQL + " READ ONLY")`, 0},
		{"variable", `conn.Exec(ctx, sql)`, 1},
		{"concatenated input", `conn.Exec(ctx, "SELECT " + col)`, 1},
		{"formatted", `conn.Exec(ctx, fmt.Sprintf("SET x = %s", v))`, 1},
		{"pgconn exec", `pgConn.Exec(ctx, c.SQL)`, 1},
		{"simple protocol mode", `conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)`, 1},
		{"simple protocol in a conn string", `connect(uri + "?default_query_exec_mode=simple_protocol")`, 1},
		{"query is fine", `conn.Query(ctx, sql, args...)`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "package x\nconst beginSQL = \"BEGIN\"\nfunc f() {\n" + tt.src + "\n}\n"
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x.go", src, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := protocolProblems(fset, []*ast.File{f}); len(got) != tt.want {
				t.Errorf("%s: %d problems %q, want %d", tt.src, len(got), got, tt.want)
			}
		})
	}
}
