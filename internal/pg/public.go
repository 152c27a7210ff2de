package pg

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
)

// PublicText is err's text as a client may see it: without the database
// user, host or port that connection errors carry ("failed to connect to
// `user=app database=shop`: 10.0.0.5:5432 (db.internal): …", "read tcp
// 10.1.2.3:51234->10.0.0.5:5432: connection reset by peer"). What failed is
// kept, in words: refused, timed out, the host name does not resolve, the
// server refused the login (with its SQLSTATE), too many connections. Logs
// keep err's full text.
func PublicText(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if i := strings.Index(msg, "failed to connect to `"); i >= 0 {
		// pgconn's ConnectError ends every chain it is part of.
		return msg[:i] + "cannot connect to the database server: " + connectReason(err)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		msg = strings.ReplaceAll(msg, dns.Error(), "the database server's host name does not resolve")
	}
	var op *net.OpError
	if errors.As(err, &op) {
		what := "failed"
		if op.Err != nil {
			what = innerNetError(op.Err)
		}
		msg = strings.ReplaceAll(msg, op.Error(), "the network connection to the database server "+what)
	}
	return msg
}

// connectReason says in words why a connection failed, from the error
// chain, without names or addresses.
func connectReason(err error) string {
	if pe, ok := AsError(err); ok {
		switch {
		case pe.SQLState == "28P01" || pe.SQLState == "28000":
			return "the server refused the login (SQLSTATE " + pe.SQLState + "): check the credentials of the database URI and pg_hba.conf"
		case pe.SQLState == "3D000":
			return "the database does not exist (SQLSTATE 3D000)"
		case pe.SQLState == "53300":
			return "the server has too many connections (SQLSTATE 53300)"
		case strings.HasPrefix(pe.SQLState, "57P"):
			return "the server is starting up or shutting down (SQLSTATE " + pe.SQLState + ")"
		}
		return "the server refused the connection (SQLSTATE " + pe.SQLState + ")"
	}
	var dns *net.DNSError
	var tlsErr *tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.As(err, &dns):
		return "its host name does not resolve"
	case errors.As(err, &tlsErr), strings.Contains(err.Error(), "tls:"):
		return "the TLS handshake failed"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return innerNetError(op.Err)
	}
	return "the connection failed"
}

// innerNetError is the system error under a net.OpError, which names no
// address ("connection refused", "connection reset by peer").
func innerNetError(err error) string {
	var sys interface{ Unwrap() error }
	if errors.As(err, &sys) {
		if inner := sys.Unwrap(); inner != nil {
			return inner.Error()
		}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "host name lookup failed"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}
