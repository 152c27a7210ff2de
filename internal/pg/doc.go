// Package pg is pgherd's database layer: one connection pool per database
// and the safe executor every tool runs through.
package pg
