package main

import (
	"errors"
	"fmt"
)

// The lean client reads only the envelope of a JSON-RPC response: id,
// error, result.isError. These functions walk JSON structurally — strings,
// nesting, literals — without decoding or allocating, so a 1,000-row result
// costs the client one pass over its bytes.

var errJSON = errors.New("malformed JSON")

// members calls fn with the raw key (between its quotes, escapes left as
// they are) and the raw value of each member of the JSON object data,
// until fn returns false.
func members(data []byte, fn func(key, value []byte) bool) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return fmt.Errorf("%w: not an object", errJSON)
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return fmt.Errorf("%w: expected a key at byte %d", errJSON, i)
		}
		end, err := skipString(data, i)
		if err != nil {
			return err
		}
		key := data[i+1 : end-1]
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return fmt.Errorf("%w: expected ':' at byte %d", errJSON, i)
		}
		i = skipSpace(data, i+1)
		vend, err := skipValue(data, i)
		if err != nil {
			return err
		}
		if !fn(key, data[i:vend]) {
			return nil
		}
		i = skipSpace(data, vend)
		if i >= len(data) {
			return fmt.Errorf("%w: unterminated object", errJSON)
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return nil
		default:
			return fmt.Errorf("%w: expected ',' or '}' at byte %d", errJSON, i)
		}
	}
}

// member returns the raw value of key in object data, or nil.
func member(data []byte, key string) []byte {
	var out []byte
	_ = members(data, func(k, v []byte) bool {
		if string(k) == key {
			out = v
			return false
		}
		return true
	})
	return out
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string starting at data[i] ('"').
func skipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: unterminated string at byte %d", errJSON, i)
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, fmt.Errorf("%w: value expected at end", errJSON)
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := skipString(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: unterminated value at byte %d", errJSON, i)
	}
	// A number or a literal: up to the next delimiter.
	j := i
	for j < len(data) {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if j == i {
				return 0, fmt.Errorf("%w: value expected at byte %d", errJSON, i)
			}
			return j, nil
		}
		j++
	}
	return j, nil
}
