package dbtools

import "testing"

func TestPlannable(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT 1":                    true,
		"  /* app */ select * from t": true,
		"-- note\nWITH x AS (SELECT 1) SELECT * FROM x": true,
		"(SELECT 1) UNION (SELECT 2)":                   true,
		"UPDATE t SET a = $1":                           true,
		"delete from t where id = $1":                   true,
		"INSERT INTO t SELECT * FROM s":                 true,
		"VACUUM t":                                      false,
		"CREATE INDEX ON t (a)":                         false,
		"SET search_path = public":                      false,
		"/* unterminated":                               false,
		"":                                              false,
	} {
		if got := plannable(sql); got != want {
			t.Errorf("plannable(%q) = %v, want %v", sql, got, want)
		}
	}
}
