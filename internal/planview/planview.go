// Package planview is the plan viewer's drawing code, shared by the
// operator console (served as /ui/static/plan.js and plan.css) and the MCP
// App that explain_query offers hosts which render UI resources: one HTML
// page, scripts and styles inline, that draws the tool's result.
package planview

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed plan.js plan.css app.html bridge.js
var files embed.FS

// FS holds plan.js and plan.css.
func FS() fs.FS { return files }

// AppMIME is the MIME type of an MCP App's HTML (the MCP Apps extension).
const AppMIME = "text/html;profile=mcp-app"

var app = build()

// AppHTML returns the MCP App's page: plan.js, plan.css and the host
// bridge inline (a host renders it in a sandboxed frame with no network),
// nothing loaded from anywhere.
func AppHTML() string { return app }

func build() string {
	read := func(name string) string {
		b, err := files.ReadFile(name)
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	// Neither file holds "</" (checked by the tests), so inlining cannot
	// end the element early.
	return strings.NewReplacer(
		"/*PLAN_CSS*/", read("plan.css"),
		"/*PLAN_JS*/", read("plan.js"),
		"/*BRIDGE_JS*/", read("bridge.js"),
	).Replace(read("app.html"))
}
