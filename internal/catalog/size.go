package catalog

import "fmt"

// sizeUnits mirror pg_size_pretty's table: a unit is used while the value
// (kept with one extra bit for rounding once past bytes) is below its
// limit.
var sizeUnits = []struct {
	name     string
	limit    int64
	round    bool
	unitBits uint
}{
	{"bytes", 10 * 1024, false, 0},
	{"kB", 20*1024 - 1, true, 10},
	{"MB", 20*1024 - 1, true, 20},
	{"GB", 20*1024 - 1, true, 30},
	{"TB", 20*1024 - 1, true, 40},
	{"PB", 20*1024 - 1, true, 50},
}

// prettySize formats a byte count exactly as PostgreSQL's pg_size_pretty
// does (bytes below 10 kB, then kB, MB … rounded half away from zero).
func prettySize(size int64) string {
	for i, u := range sizeUnits {
		last := i == len(sizeUnits)-1
		if last || magnitude(size) < uint64(u.limit) {
			if u.round {
				size = halfRounded(size)
			}
			return fmt.Sprintf("%d %s", size, u.name)
		}
		next := sizeUnits[i+1]
		bits := next.unitBits - u.unitBits
		if next.round {
			bits--
		}
		if u.round {
			bits++
		}
		size /= int64(1) << bits // division, not shift: negative sizes round toward zero
	}
	panic("unreachable")
}

func halfRounded(x int64) int64 {
	if x >= 0 {
		return (x + 1) / 2
	}
	return (x - 1) / 2
}

// magnitude is |x| without overflow for math.MinInt64.
func magnitude(x int64) uint64 {
	if x < 0 {
		return -uint64(x)
	}
	return uint64(x)
}

// sizeOf returns the pretty form of a nullable size.
func sizeOf(b *int64) string {
	if b == nil {
		return ""
	}
	return prettySize(*b)
}
