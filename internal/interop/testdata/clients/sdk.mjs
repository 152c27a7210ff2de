// sdk.mjs drives a pgherd endpoint with the official TypeScript SDK client,
// the way an MCP host does, and prints what it saw as one JSON object.
//
//   node sdk.mjs '{"transport":"http","url":"http://127.0.0.1:8000/app1/mcp","tool":"app1_execute_sql",
//                  "headers":{"Authorization":"Bearer k"}}'
//   node sdk.mjs '{"transport":"stdio","command":"pgherd","args":["stdio",...],"tool":"execute_sql"}'
//
// It lists the tools, calls the SQL tool with an array of parameters, sends
// a method no server knows, lists the prompts and resources, and subscribes
// to a resource (pgherd offers no subscriptions); the unknown method and the
// subscription must come back as JSON-RPC -32601 (never a hang). Any failure exits 1 with the reason on stderr.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { z } from "zod";

const opts = JSON.parse(process.argv[2]);
const requestInit = opts.headers ? { headers: opts.headers } : undefined;
let transport;
switch (opts.transport) {
  case "http":
    transport = new StreamableHTTPClientTransport(new URL(opts.url), { requestInit });
    break;
  case "sse":
    transport = new SSEClientTransport(new URL(opts.url), {
      requestInit,
      eventSourceInit: opts.headers ? { fetch: (u, init) => fetch(u, { ...init, headers: { ...init?.headers, ...opts.headers } }) } : undefined,
    });
    break;
  case "stdio":
    transport = new StdioClientTransport({ command: opts.command, args: opts.args, env: { ...process.env, ...(opts.env || {}) }, stderr: "pipe" });
    break;
  default:
    throw new Error(`unknown transport ${opts.transport}`);
}

const client = new Client({ name: "pgherd-interop-sdk", version: "1.0.0" });
const out = {};
const deadline = setTimeout(() => {
  console.error("sdk.mjs: no answer within 60s", JSON.stringify(out));
  process.exit(1);
}, 60000);
try {
  await client.connect(transport);
  out.server = client.getServerVersion();
  out.capabilities = client.getServerCapabilities();
  out.instructions = client.getInstructions();
  const { tools } = await client.listTools();
  out.tools = tools.map((t) => t.name);
  const res = await client.callTool({ name: opts.tool, arguments: { sql: "SELECT $1::int + $2::int AS sum, $3::text AS word", params: [40, 2, "ok"] } });
  out.call = { isError: res.isError ?? false, structured: res.structuredContent, text: res.content?.[0]?.text };
  try {
    await client.request({ method: "foo/bar", params: {} }, z.object({}).passthrough());
    out.unknownMethod = { answered: true };
  } catch (e) {
    out.unknownMethod = { code: e.code, message: e.message };
  }
  const { prompts } = await client.listPrompts();
  out.prompts = prompts.map((p) => p.name);
  const { resources } = await client.listResources();
  out.resources = resources.map((r) => r.uri);
  try {
    // pgherd offers no resource subscriptions: -32601.
    await client.subscribeResource({ uri: resources[0].uri });
    out.subscribe = { answered: true };
  } catch (e) {
    out.subscribe = { code: e.code, message: e.message };
  }
  await client.close();
  clearTimeout(deadline);
  console.log(JSON.stringify(out));
} catch (e) {
  console.error("sdk.mjs:", e?.stack || e, JSON.stringify(out));
  process.exit(1);
}
