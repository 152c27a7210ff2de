package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// functionsSQL reads the functions $1 (oid[]), definitions cut at $2
// characters. pg_get_functiondef fails on aggregates, so it is never called
// for them.
const functionsSQL = `SELECT p.proname::text || '(' || pg_get_function_identity_arguments(p.oid) || ')',
	pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
	p.prokind::text, l.lanname::text, p.provolatile::text, p.proisstrict, p.prosecdef, p.proparallel::text,
	p.proleakproof, p.proretset, p.proconfig, pg_get_userbyid(p.proowner), d.description,
	left(fd.def, $2), length(fd.def),
	ag.aggkind::text, ag.aggtransfn::text, format_type(ag.aggtranstype, NULL),
	CASE WHEN ag.aggfinalfn <> 0 THEN ag.aggfinalfn::text END, ag.agginitval
FROM pg_proc p
JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_aggregate ag ON ag.aggfnoid = p.oid
LEFT JOIN pg_description d ON d.classoid = 'pg_proc'::regclass AND d.objoid = p.oid AND d.objsubid = 0
LEFT JOIN LATERAL (SELECT CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END AS def OFFSET 0) fd ON true
WHERE p.oid = ANY($1::oid[])
ORDER BY pg_get_function_identity_arguments(p.oid) COLLATE "C"`

// describeFunctions fills d with every overload in oids. Owner and Kind are
// lifted to d when all overloads share them, the comment when there is one
// overload.
func describeFunctions(ctx context.Context, q Querier, d *Details, oids []uint32) error {
	defer func() {
		if len(d.Functions) == 0 {
			return
		}
		first := d.Functions[0]
		d.Owner, d.Kind = first.Owner, first.Kind
		for _, f := range d.Functions[1:] {
			if f.Owner != d.Owner {
				d.Owner = ""
			}
			if f.Kind != d.Kind {
				d.Kind = ""
			}
		}
		if len(d.Functions) == 1 {
			d.Comment = first.Comment
		}
	}()
	return runSections(ctx, q, []section{{name: "functions", sql: functionsSQL, args: []any{oids, MaxDefinitionLength},
		scan: func(rows pgx.Rows) error {
			return eachRow(rows, func() error {
				f, err := scanFunction(rows)
				if err != nil {
					return err
				}
				if f.DefinitionTruncated {
					d.Notes = append(d.Notes, fmt.Sprintf("the definition of %s is cut at %d characters", f.Signature, MaxDefinitionLength))
				}
				d.Functions = append(d.Functions, f)
				return nil
			})
		}}})
}

func scanFunction(rows pgx.Rows) (Function, error) {
	var (
		f                                              Function
		result, comment, def                           *string
		prokind, volatility, parallel                  string
		defLen                                         *int64
		aggKind, transFn, stateType, finalFn, initCond *string
	)
	if err := rows.Scan(&f.Signature, &f.Arguments, &result, &prokind, &f.Language, &volatility,
		&f.Strict, &f.SecurityDefiner, &parallel, &f.Leakproof, &f.ReturnsSet, &f.Settings, &f.Owner, &comment,
		&def, &defLen, &aggKind, &transFn, &stateType, &finalFn, &initCond); err != nil {
		return f, err
	}
	f.Result, f.Comment, f.Definition = deref(result), deref(comment), deref(def)
	f.Kind = functionKind(prokind)
	f.Volatility = volatilityName(volatility)
	switch parallel {
	case "s":
		f.Parallel = "safe"
	case "r":
		f.Parallel = "restricted"
	case "u":
		f.Parallel = "unsafe"
	}
	f.DefinitionTruncated = defLen != nil && *defLen > MaxDefinitionLength
	if aggKind != nil {
		a := &AggregateInfo{TransitionFunction: deref(transFn), StateType: deref(stateType),
			FinalFunction: deref(finalFn), InitialCondition: deref(initCond)}
		switch *aggKind {
		case "n":
			a.Kind = "normal"
		case "o":
			a.Kind = "ordered-set"
		case "h":
			a.Kind = "hypothetical-set"
		}
		f.Aggregate = a
	}
	return f, nil
}

func functionKind(prokind string) string {
	switch prokind {
	case "f":
		return "function"
	case "p":
		return "procedure"
	case "a":
		return "aggregate"
	case "w":
		return "window"
	}
	return prokind
}

func volatilityName(v string) string {
	switch v {
	case "i":
		return "immutable"
	case "s":
		return "stable"
	case "v":
		return "volatile"
	}
	return v
}
