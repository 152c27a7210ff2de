// langchain.mjs connects LangChain's MultiServerMCPClient to pgherd the way
// the design document's agent does (Streamable HTTP, an Authorization
// header per server), loads the tools as LangChain tools and invokes the
// SQL tool. It prints {tools, result} as JSON; any failure exits 1.
//
//   node langchain.mjs '{"url":"http://127.0.0.1:8000/app1/mcp","headers":{"Authorization":"Bearer k"},"tool":"app1_execute_sql"}'
import { MultiServerMCPClient } from "@langchain/mcp-adapters";

const opts = JSON.parse(process.argv[2]);
const client = new MultiServerMCPClient({
  throwOnLoadError: true,
  prefixToolNameWithServerName: false,
  useStandardContentBlocks: true,
  mcpServers: {
    pgherd: { transport: opts.transport || "http", url: opts.url, headers: opts.headers, reconnect: { enabled: false } },
  },
});
const deadline = setTimeout(() => {
  console.error("langchain.mjs: no answer within 60s");
  process.exit(1);
}, 60000);
try {
  const tools = await client.getTools();
  const sql = tools.find((t) => t.name === opts.tool);
  if (!sql) throw new Error(`no tool ${opts.tool} among ${tools.map((t) => t.name).join(", ")}`);
  const result = await sql.invoke({ sql: "SELECT $1::text AS greeting", params: ["hello"] });
  await client.close();
  clearTimeout(deadline);
  console.log(JSON.stringify({ tools: tools.map((t) => t.name), result }));
} catch (e) {
  console.error("langchain.mjs:", e?.stack || e);
  process.exit(1);
}
