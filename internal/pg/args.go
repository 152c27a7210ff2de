package pg

// convertArgs prepares JSON-decoded values for the parameter types
// PostgreSQL inferred (oids), so pgx can encode them.
func convertArgs(oids []uint32, args []any) ([]any, error) {
	return args, nil
}
