package config

import (
	"fmt"
	"strings"
)

// indentProblem looks for the line whose indentation breaks the block
// structure of a YAML file that failed to parse, and says what is wrong
// with it; "" when it finds none. yaml.v3 reports such a mistake at the
// line where the enclosing block starts ("line 3: did not find expected
// key" for a key mis-indented on line 7), which sends the reader to the
// wrong place.
//
// It follows block mappings and lists only: a line indented deeper than the
// line above must follow a line that opens a block ("key:" with nothing
// after it, or "- "), and a line indented less must line up with one of the
// blocks it closes. Block scalars (| and >) and flow collections spanning
// lines are skipped.
func indentProblem(data []byte) string {
	type level struct {
		indent int
		line   int
		key    string
	}
	var stack []level // open blocks, innermost last
	opens := false    // the previous line opened a block
	scalarIndent := -1
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		text := strings.TrimRight(raw, " \t\r")
		content := strings.TrimLeft(text, " ")
		if content == "" || strings.HasPrefix(content, "#") {
			continue
		}
		indent := len(text) - len(content)
		if scalarIndent >= 0 {
			if indent > scalarIndent {
				continue // inside a block scalar
			}
			scalarIndent = -1
		}
		if strings.HasPrefix(content, "\t") || strings.Contains(text[:indent+min(1, len(content))], "\t") {
			return fmt.Sprintf("line %d is indented with a tab; YAML indents with spaces only", n)
		}
		key := content
		if k, _, ok := strings.Cut(content, ":"); ok {
			key = k
		}
		switch {
		case len(stack) == 0 || indent > stack[len(stack)-1].indent:
			if len(stack) > 0 && !opens {
				top := stack[len(stack)-1]
				return fmt.Sprintf("line %d is indented %d spaces, deeper than line %d (%s), which already has its value; "+
					"indent it %d spaces to make it a sibling of %s", n, indent, top.line, top.key, top.indent, top.key)
			}
			stack = append(stack, level{indent, n, key})
		default:
			var valid []string // the indentations a key may have here
			for _, l := range stack {
				valid = append(valid, fmt.Sprint(l.indent))
			}
			for len(stack) > 0 && stack[len(stack)-1].indent > indent {
				stack = stack[:len(stack)-1]
			}
			if len(stack) == 0 || stack[len(stack)-1].indent != indent {
				want := "the indentation of a key above it"
				if len(valid) > 0 {
					want = strings.Join(valid, " or ") + " spaces, like a key above it"
				}
				return fmt.Sprintf("line %d (%s) is indented %d spaces, which lines up with no key above it; indent it %s", n, key, indent, want)
			}
			stack[len(stack)-1] = level{indent, n, key}
		}
		// Does this line open a block for the next one?
		rest := strings.TrimSpace(strings.TrimPrefix(content, "- "))
		if _, v, ok := strings.Cut(rest, ":"); ok {
			v = strings.TrimSpace(v)
			if j := strings.Index(v, " #"); j >= 0 {
				v = strings.TrimSpace(v[:j])
			}
			opens = v == ""
			if v == "|" || v == ">" || strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
				scalarIndent, opens = indent, false
			}
			if strings.HasPrefix(v, "[") && !strings.Contains(v, "]") || strings.HasPrefix(v, "{") && !strings.Contains(v, "}") {
				return "" // a flow collection over several lines: leave it to the parser
			}
		} else {
			opens = content == "-" || strings.HasPrefix(content, "- ") && strings.Contains(content, ":")
		}
		if strings.HasPrefix(content, "- ") {
			// The item's own keys continue two columns further in.
			stack = append(stack, level{indent + 2, n, key})
		}
	}
	return ""
}
