package dbtools

import (
	"bytes"
	"encoding/json"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pgherd/pgherd/internal/catalog"
)

// dropCounters removes from d the usage counters that change with every
// query (table scans and tuples, vacuum and analyze times, index scans):
// they make two descriptions of an unchanged table differ and cost a model
// context it rarely needs. get_object_details returns them on request.
func dropCounters(d *catalog.Details) {
	d.Stats = nil
	clear := func(ix *catalog.Index) {
		ix.Scans, ix.TuplesRead, ix.TuplesFetched = nil, nil, nil
	}
	for i := range d.Indexes {
		clear(&d.Indexes[i])
	}
	if d.Index != nil {
		clear(d.Index)
	}
}

// detailsText renders the details as indented key: value text in the order
// of the structured result, lists of plain values on one line: what a model
// or a person reads, where the JSON rendering escaped every < and > of a
// definition (\u003e) and spent a line on each brace.
func detailsText(d *catalog.Details) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return err.Error()
	}
	// JSON is YAML: parse it into nodes (which keep the key order), then
	// write them back as block YAML.
	var doc yaml.Node
	if err := yaml.Unmarshal(buf.Bytes(), &doc); err != nil {
		return buf.String()
	}
	restyle(&doc)
	var out strings.Builder
	e := yaml.NewEncoder(&out)
	e.SetIndent(2)
	if err := e.Encode(&doc); err != nil {
		return buf.String()
	}
	return strings.TrimRight(out.String(), "\n")
}

// restyle turns the flow style of parsed JSON into block style, keeping
// lists of scalars on one line, and drops the quotes a value does not need.
func restyle(n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Style == yaml.DoubleQuotedStyle && !strings.ContainsAny(n.Value, "\n") {
			n.Style = 0 // the encoder quotes it again if YAML needs it
		}
	case yaml.SequenceNode:
		flat := true
		for _, c := range n.Content {
			restyle(c)
			flat = flat && c.Kind == yaml.ScalarNode && !strings.Contains(c.Value, "\n")
		}
		if flat {
			n.Style = yaml.FlowStyle
		} else {
			n.Style = 0
		}
	default:
		n.Style = 0
		for _, c := range n.Content {
			restyle(c)
		}
	}
}
