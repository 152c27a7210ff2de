// The MCP App's side of the host protocol (MCP Apps extension): JSON-RPC
// over postMessage with the parent frame. It initializes, then draws each
// tool result the host sends (ui/notifications/tool-result) and tells the
// host its height. It makes no other requests.
(function () {
  "use strict";
  var host = window.parent;
  if (!host || host === window) return;
  var next = 1, pending = {};
  function send(msg) { msg.jsonrpc = "2.0"; host.postMessage(msg, "*"); }
  function request(method, params) {
    var id = next++;
    send({ id: id, method: method, params: params });
    return new Promise(function (resolve) { pending[id] = resolve; });
  }
  function resized() {
    var h = document.documentElement.scrollHeight, w = document.documentElement.scrollWidth;
    send({ method: "ui/notifications/size-changed", params: { width: w, height: h } });
  }
  function show(result) {
    var out = document.getElementById("plan");
    out.textContent = "";
    if (!result || result.isError) {
      var msg = "explain_query returned an error.";
      ((result && result.content) || []).forEach(function (c) { if (c.type === "text") msg = c.text; });
      var box = document.createElement("div");
      box.className = "error-box";
      box.textContent = msg;
      out.appendChild(box);
    } else {
      window.PgherdPlan.render(out, result.structuredContent);
    }
    resized();
  }
  window.addEventListener("message", function (e) {
    if (e.source !== host) return;
    var m = e.data;
    if (!m || m.jsonrpc !== "2.0") return;
    if (m.method === undefined && m.id !== undefined && pending[m.id]) {
      pending[m.id](m.result);
      delete pending[m.id];
      return;
    }
    if (m.method === "ui/notifications/tool-result") {
      show(m.params);
    } else if (m.id !== undefined && m.method) {
      // A request from the host (ui/resource-teardown …): nothing to do.
      send({ id: m.id, result: {} });
    }
  });
  window.addEventListener("click", function () { setTimeout(resized, 0); });
  request("ui/initialize", {
    protocolVersion: "2026-01-26",
    appInfo: { name: "pgherd-plan", version: "1" },
    appCapabilities: {}
  }).then(function () {
    send({ method: "ui/notifications/initialized", params: {} });
  });
})();
