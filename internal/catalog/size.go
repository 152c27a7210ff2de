package catalog

import (
	"fmt"
	"math"
)

// prettySize formats a byte count the way pg_size_pretty does: bytes below
// 10 kB, then whole kB, MB, GB, TB or PB, rounded half away from zero, moving
// to the next unit once a value reaches 10240.
func prettySize(b int64) string {
	if b > -10*1024 && b < 10*1024 {
		return fmt.Sprintf("%d bytes", b)
	}
	units := [...]string{"kB", "MB", "GB", "TB", "PB"}
	v := float64(b)
	for i, u := range units {
		v /= 1024
		if r := math.Round(v); math.Abs(r) < 10*1024 || i == len(units)-1 {
			return fmt.Sprintf("%d %s", int64(r), u)
		}
	}
	panic("unreachable")
}

// sizeOf returns the pretty form of a nullable size.
func sizeOf(b *int64) string {
	if b == nil {
		return ""
	}
	return prettySize(*b)
}
