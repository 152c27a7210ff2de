package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// uriHint ends every message about a connection URI that cannot be parsed.
const uriHint = "write postgres://USER:PASSWORD@HOST:5432/DBNAME and percent-encode special characters " +
	"in the password (%40 for @, %2F for /, %23 for #, %3F for ?)"

// checkDatabaseURI returns what is wrong with a connection URI (or
// keyword=value string), or "". The message never quotes the URI: a
// malformed one can hide its password anywhere.
func checkDatabaseURI(uri string) string {
	if scheme, _, ok := strings.Cut(uri, "://"); ok && !isPostgresScheme(scheme) {
		if len(scheme) > 20 || strings.ContainsAny(scheme, "@:/ ") {
			return "is not a postgres:// URI; " + uriHint
		}
		return fmt.Sprintf("scheme %s:// is not postgres:// or postgresql://; %s", scheme, uriHint)
	}
	if !strings.Contains(uri, "://") && !strings.Contains(uri, "=") {
		return "is neither a postgres:// URI nor keyword=value settings; " + uriHint
	}
	_, err := pgconn.ParseConfig(uri)
	if err == nil {
		return ""
	}
	return scrubSecrets(fmt.Sprintf("cannot be parsed (%s); %s", parseProblem(err), uriHint), uri)
}

func isPostgresScheme(s string) bool {
	return strings.EqualFold(s, "postgres") || strings.EqualFold(s, "postgresql")
}

// parseProblem says what pgconn found wrong, without the connection string
// that pgconn's own message quotes (its redaction is best effort, and a
// malformed URI is exactly where it can miss).
func parseProblem(err error) string {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return "unrecognised problem"
	}
	// Error() is "cannot parse `CONN`: MSG" or "... MSG (CAUSE)". With the
	// connection string blanked and the cause's text trimmed, MSG remains:
	// pgconn's own words for the problem, like "invalid port".
	blank := *pe
	blank.ConnString = ""
	msg := strings.TrimPrefix(blank.Error(), "cannot parse ``: ")
	cause := errors.Unwrap(pe)
	if cause == nil {
		return msg
	}
	msg = strings.TrimSuffix(msg, " ("+cause.Error()+")")
	// These causes are about files and setting values, never the password
	// or the URI; the others (URL and keyword/value syntax) may quote it.
	if slices.Contains([]string{"failed to configure TLS", "failed to read service", "invalid connect_timeout", "invalid sslcertmode"}, msg) {
		return msg + ": " + cause.Error()
	}
	return msg
}

// scrubSecrets removes from msg anything that might be a password in uri:
// a last line of defence, since msg is built not to quote uri at all.
func scrubSecrets(msg, uri string) string {
	for _, s := range passwordCandidates(uri) {
		if len(s) >= 3 {
			msg = strings.ReplaceAll(msg, s, Redacted)
		}
	}
	return msg
}

// passwordCandidates returns every substring of uri that could be a
// password, over-approximating for malformed input.
func passwordCandidates(uri string) []string {
	var out []string
	if _, rest, ok := strings.Cut(uri, "://"); ok {
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				out = append(out, pw)
			}
		}
		if _, q, ok := strings.Cut(rest, "?"); ok {
			for _, kv := range strings.Split(q, "&") {
				if k, val, ok := strings.Cut(kv, "="); ok && isPasswordKey(k) {
					out = append(out, val)
				}
			}
		}
		return out
	}
	for _, kv := range keywordValues(uri) {
		if isPasswordKey(kv.key) {
			out = append(out, kv.value, kv.raw)
		}
	}
	return out
}

func isPasswordKey(k string) bool {
	k = strings.ToLower(strings.TrimSpace(k))
	return k == "password" || k == "sslpassword" || k == "pass%77ord"
}
