package sqlguard

import "sync"

// Cache remembers the verdicts of accepted statements by their exact text
// and [Options], so a statement an agent sends again is not parsed and
// walked again. It holds at most its size of verdicts (a random one leaves
// when a new one arrives at the limit) and never a statement longer than
// [MaxCachedSQL] bytes. Refusals are not cached: they are rare and their
// errors carry positions the caller may cut.
//
// A cached verdict is the validator's answer about the text alone (and the
// options, which are part of the key): the catalog lookup it may carry
// (Verdict.Lookup) still has to be resolved and judged on every call's own
// connection. Callers must not modify a verdict they got from a Cache: it is
// shared. The zero Cache and a nil *Cache validate every time. Safe for
// concurrent use.
type Cache struct {
	mu   sync.Mutex
	size int
	m    map[cacheKey]*Verdict
}

// MaxCachedSQL is the longest statement text a Cache keeps a verdict for.
const MaxCachedSQL = 4 << 10

type cacheKey struct {
	sql  string
	opts Options
}

// NewCache returns a Cache of at most size verdicts (size < 1: none).
func NewCache(size int) *Cache {
	return &Cache{size: size, m: make(map[cacheKey]*Verdict, min(max(size, 0), 64))}
}

// Validate is [Validate] through the cache.
func (c *Cache) Validate(sql string, opts Options) (*Verdict, error) {
	if c == nil || c.size < 1 || len(sql) > MaxCachedSQL {
		return Validate(sql, opts)
	}
	k := cacheKey{sql, opts}
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := Validate(sql, opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.size {
		for old := range c.m { // map order is random: a random victim
			delete(c.m, old)
			break
		}
	}
	c.m[k] = v
	c.mu.Unlock()
	return v, nil
}

// Len returns the number of verdicts held.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
