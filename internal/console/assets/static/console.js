// pgherd console: the pages Herd, Live calls, Health and Plan viewer.
// Plain JavaScript, no build step, no external resources. Every value from
// the server is set as text (textContent), never parsed as HTML.
(function () {
  "use strict";
  var base = document.querySelector('meta[name="pgherd-base"]').content;
  var csrf = document.querySelector('meta[name="pgherd-csrf"]').content;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function ms(x) {
    if (typeof x !== "number") return "";
    if (x >= 60000) return (x / 60000).toFixed(1) + " min";
    if (x >= 1000) return (x / 1000).toFixed(2) + " s";
    return x.toFixed(x >= 100 ? 0 : 1) + " ms";
  }
  function clock(t) { return new Date(t).toLocaleTimeString(); }

  function api(method, path, body) {
    var opts = { method: method, headers: {}, credentials: "same-origin" };
    if (method !== "GET") {
      opts.headers["X-Pgherd-Csrf"] = csrf;
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body || {});
    }
    return fetch(base + path, opts).then(function (r) {
      if (r.status === 401) { location.href = base + "/signin"; throw new Error("signed out"); }
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
        return j;
      });
    });
  }

  // ---- navigation -------------------------------------------------------
  var pages = ["herd", "live", "health", "plan"];
  var current = null;
  function show() {
    var name = (location.hash || "#herd").slice(1);
    if (pages.indexOf(name) < 0) name = "herd";
    pages.forEach(function (p) { $("page-" + p).hidden = p !== name; });
    document.querySelectorAll("#nav a").forEach(function (a) { a.classList.toggle("active", a.dataset.page === name); });
    current = name;
    if (name === "herd") loadHerd();
    if (name === "live") startLive();
  }
  window.addEventListener("hashchange", show);

  var endpoints = [];
  function fillEndpoints() {
    ["f-endpoint", "h-endpoint", "p-endpoint"].forEach(function (id) {
      var sel = $(id);
      var keep = sel.value;
      endpoints.forEach(function (e) {
        var o = el("option", null, e.name + " (" + e.mode + ")");
        o.value = e.name;
        sel.appendChild(o);
      });
      if (keep) sel.value = keep;
    });
  }

  api("GET", "/api/me").then(function (me) {
    $("who").textContent = me.open ? "local console (no sign-in)" : "signed in as " + me.who + (me.key ? " (key " + me.key + ")" : "");
    endpoints = me.endpoints || [];
    fillEndpoints();
    show();
  }).catch(function (e) { $("who").textContent = e.message; });

  if ($("signout")) $("signout").addEventListener("click", function () {
    api("POST", "/signout").then(function (j) { location.href = j.signin; });
  });

  // ---- Herd ---------------------------------------------------------------
  var herdTimer = null;
  function chart(rates, barSeconds) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "chart");
    svg.setAttribute("viewBox", "0 0 " + rates.length * 4 + " 40");
    svg.setAttribute("preserveAspectRatio", "none");
    var max = 1;
    rates.forEach(function (r) { max = Math.max(max, r.calls); });
    var axis = document.createElementNS(ns, "rect");
    axis.setAttribute("class", "axis"); axis.setAttribute("x", 0); axis.setAttribute("y", 39.5);
    axis.setAttribute("width", rates.length * 4); axis.setAttribute("height", 0.5);
    svg.appendChild(axis);
    rates.forEach(function (r, i) {
      var h = r.calls / max * 38, eh = r.errors / max * 38;
      var rc = document.createElementNS(ns, "rect");
      rc.setAttribute("class", "calls"); rc.setAttribute("x", i * 4); rc.setAttribute("width", 3);
      rc.setAttribute("y", 40 - h); rc.setAttribute("height", h);
      var t = document.createElementNS(ns, "title");
      t.textContent = clock(r.start_ms) + ": " + r.calls + " calls, " + r.errors + " errors";
      rc.appendChild(t);
      svg.appendChild(rc);
      if (eh > 0) {
        var re = document.createElementNS(ns, "rect");
        re.setAttribute("class", "errors"); re.setAttribute("x", i * 4); re.setAttribute("width", 3);
        re.setAttribute("y", 40 - eh); re.setAttribute("height", eh);
        svg.appendChild(re);
      }
    });
    return svg;
  }
  function loadHerd() {
    clearTimeout(herdTimer);
    api("GET", "/api/herd").then(function (h) {
      var box = $("herd-cards");
      box.textContent = "";
      $("herd-sub").textContent = h.endpoints.length + " endpoints · " + h.session_mode + " sessions · pgherd " + (h.version || "");
      h.endpoints.forEach(function (e) {
        var c = el("article", "card");
        c.setAttribute("data-endpoint", e.name);
        var t = el("h3");
        t.appendChild(el("span", "name", e.name));
        t.appendChild(el("span", "mode", e.mode));
        var st = el("span", "badge state " + (e.ready ? "st-ready" : "st-down"), e.ready ? "ready" : "down");
        t.appendChild(st);
        c.appendChild(t);
        var dl = el("dl");
        function row(k, v, cls) { dl.appendChild(el("dt", null, k)); var d = el("dd", cls, v); dl.appendChild(d); return d; }
        row("database", e.database);
        row("MCP", e.served);
        row("latency", e.ready ? ms(e.latency_ms) : (e.error || "not answering"), e.ready ? "" : "st-down");
        row("pool", e.pool.in_use + " in use / " + e.pool.idle + " idle / " + e.pool.max + " max · " + e.pool.waits + " waits" +
          (e.pool.exhausted ? " · " + e.pool.exhausted + " timed out" : ""));
        if (e.sessions !== undefined) row("sessions", e.sessions);
        var calls = 0, errors = 0;
        e.rates.forEach(function (r) { calls += r.calls; errors += r.errors; });
        var secs = e.rates.length * h.bar_seconds;
        row("calls", (calls / secs).toFixed(2) + "/s · " + (calls ? (100 * errors / calls).toFixed(1) : "0") + "% errors · " + e.in_flight + " running (last " + secs / 60 + " min)");
        if (e.worst) {
          var w = row("health", "");
          w.appendChild(el("span", "badge st-" + e.worst.status, e.worst.status));
          w.appendChild(document.createTextNode(" " + (e.worst.finding || "no findings") + (e.worst.check ? " (" + e.worst.check + ")" : "")));
        } else {
          row("health", "not checked yet (Health page)");
        }
        c.appendChild(dl);
        c.appendChild(chart(e.rates, h.bar_seconds));
        box.appendChild(c);
      });
    }).catch(function (e) { $("herd-cards").textContent = e.message; })
      .then(function () { if (current === "herd") herdTimer = setTimeout(loadHerd, 5000); });
  }

  // ---- Live calls -----------------------------------------------------------
  var running = {}, finished = [], source = null, liveTimer = null;
  var MAX_FINISHED = 500;
  function startLive() {
    if (source) return;
    api("GET", "/api/calls").then(function (c) {
      running = {};
      (c.running || []).forEach(function (v) { running[v.id] = v; });
      finished = c.finished || [];
      drawLive();
    });
    source = new EventSource(base + "/api/events");
    source.addEventListener("hello", function () { $("live-state").textContent = "live"; });
    source.addEventListener("start", function (e) { JSON.parse(e.data).forEach(function (v) { running[v.id] = v; v.fresh = true; }); drawLive(); });
    source.addEventListener("tick", function (e) { JSON.parse(e.data).forEach(function (v) { running[v.id] = v; }); drawLive(); });
    source.addEventListener("end", function (e) {
      JSON.parse(e.data).forEach(function (v) {
        delete running[v.id];
        v.fresh = true;
        finished.unshift(v);
      });
      if (finished.length > MAX_FINISHED) finished.length = MAX_FINISHED;
      drawLive();
    });
    source.addEventListener("resync", function () { source.close(); source = null; startLive(); });
    source.onerror = function () { $("live-state").textContent = "reconnecting…"; };
    clearInterval(liveTimer);
    liveTimer = setInterval(function () { if (current === "live") drawLive(); }, 1000);
  }
  function matches(v) {
    var ep = $("f-endpoint").value, oc = $("f-outcome").value, q = $("f-text").value.toLowerCase();
    if (ep && v.endpoint !== ep) return false;
    if (oc === "ok" && v.outcome !== "ok") return false;
    if (oc === "!ok" && (v.running || v.outcome === "ok")) return false;
    if (q && (v.tool + " " + (v.tenant || "") + " " + (v.user || "") + " " + (v.sql || "")).toLowerCase().indexOf(q) < 0) return false;
    return true;
  }
  function sqlCell(v) {
    var td = el("td");
    td.appendChild(el("code", "sql", v.sql || ""));
    if (v.error) td.appendChild(el("div", "hint", v.error));
    return td;
  }
  function drawLive() {
    if (current !== "live") return;
    var rb = $("running").tBodies[0], fb = $("finished").tBodies[0];
    rb.textContent = ""; fb.textContent = "";
    var runs = Object.keys(running).map(function (k) { return running[k]; }).filter(matches);
    runs.sort(function (a, b) { return a.start_ms - b.start_ms; });
    $("running-count").textContent = runs.length;
    runs.forEach(function (v) {
      var tr = el("tr", v.fresh ? "new" : null);
      v.fresh = false;
      tr.setAttribute("data-call", v.id);
      tr.appendChild(el("td", null, clock(v.start_ms)));
      tr.appendChild(el("td", null, v.endpoint));
      tr.appendChild(el("td", null, v.tenant || ""));
      tr.appendChild(el("td", null, v.tool));
      tr.appendChild(sqlCell(v));
      tr.appendChild(el("td", "num", ms(Date.now() - v.start_ms)));
      var td = el("td");
      var b = el("button", "cancel", "Cancel");
      b.type = "button";
      b.setAttribute("data-cancel", v.id);
      b.addEventListener("click", function () {
        b.disabled = true;
        api("POST", "/api/calls/" + encodeURIComponent(v.id) + "/cancel").catch(function (e) { b.disabled = false; alert(e.message); });
      });
      td.appendChild(b);
      tr.appendChild(td);
      rb.appendChild(tr);
    });
    if (!runs.length) { var er = el("tr", "empty"); var etd = el("td", null, "no call running"); etd.colSpan = 7; er.appendChild(etd); rb.appendChild(er); }
    var shown = finished.filter(matches);
    $("finished-count").textContent = shown.length;
    shown.slice(0, 300).forEach(function (v) {
      var tr = el("tr", v.fresh ? "new" : null);
      v.fresh = false;
      tr.setAttribute("data-call", v.id);
      tr.appendChild(el("td", null, clock(v.start_ms + v.duration_ms)));
      tr.appendChild(el("td", null, v.endpoint));
      tr.appendChild(el("td", null, v.tenant || ""));
      tr.appendChild(el("td", null, v.tool));
      tr.appendChild(sqlCell(v));
      tr.appendChild(el("td", "num", ms(v.duration_ms)));
      tr.appendChild(el("td", "num", v.rows));
      var oc = el("td");
      oc.appendChild(el("span", "badge st-" + v.outcome, v.canceled_by_operator ? "cancelled by operator" : v.outcome + (v.sqlstate ? " " + v.sqlstate : "")));
      tr.appendChild(oc);
      fb.appendChild(tr);
    });
    if (!shown.length) { var fr = el("tr", "empty"); var ftd = el("td", null, "no finished call yet"); ftd.colSpan = 8; fr.appendChild(ftd); fb.appendChild(fr); }
  }
  ["f-endpoint", "f-outcome", "f-text"].forEach(function (id) { $(id).addEventListener("input", drawLive); });
  $("live-filters").addEventListener("submit", function (e) { e.preventDefault(); });

  // ---- Health ---------------------------------------------------------------
  function copyButton(text) {
    var b = el("button", "quiet", "Copy");
    b.type = "button";
    b.addEventListener("click", function () {
      var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard) navigator.clipboard.writeText(text).then(done, function () { b.textContent = "Select and copy"; });
      else b.textContent = "Select and copy";
    });
    return b;
  }
  function finding(f, where) {
    var d = el("div", "finding st-" + f.status);
    var head = el("div", "what");
    head.appendChild(el("span", "badge st-" + f.status, f.status));
    head.appendChild(document.createTextNode(" " + (where ? where + ": " : "") + f.summary));
    d.appendChild(head);
    if (f.advice) d.appendChild(el("p", "advice", f.advice));
    if (f.remedy_sql && f.remedy_sql.length) {
      var sql = f.remedy_sql.join("\n");
      var r = el("div", "remedy");
      r.appendChild(el("pre", null, sql));
      r.appendChild(copyButton(sql));
      d.appendChild(r);
    }
    return d;
  }
  function table(cols, rows) {
    var wrap = el("div", "scroll"), t = el("table"), th = el("thead"), hr = el("tr"), tb = el("tbody");
    cols.forEach(function (c) { hr.appendChild(el("th", null, c[0])); });
    th.appendChild(hr); t.appendChild(th);
    rows.forEach(function (r) {
      var tr = el("tr");
      cols.forEach(function (c) {
        var v = c[1](r);
        if (v instanceof Node) { var td = el("td"); td.appendChild(v); tr.appendChild(td); }
        else tr.appendChild(el("td", c[2] || null, v));
      });
      tb.appendChild(tr);
    });
    if (!rows.length) { var er = el("tr", "empty"); var etd = el("td", null, "nothing yet"); etd.colSpan = cols.length; er.appendChild(etd); tb.appendChild(er); }
    t.appendChild(tb); wrap.appendChild(t);
    return wrap;
  }
  $("health-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var out = $("health-out"), btn = $("h-run");
    btn.disabled = true;
    out.textContent = "";
    out.appendChild(el("p", "hint", "Checking " + $("h-endpoint").value + "…"));
    api("POST", "/api/health", { endpoint: $("h-endpoint").value, checks: $("h-checks").value, sort_by: $("h-sort").value }).then(function (h) {
      out.textContent = "";
      out.appendChild(el("h2", null, "Health checks"));
      if (h.report_error) out.appendChild(el("div", "note-box", h.report_error));
      if (h.report) {
        var rep = h.report;
        var head = el("p");
        head.appendChild(el("span", "badge st-" + rep.status, rep.status));
        head.appendChild(document.createTextNode(" " + rep.database + " · PostgreSQL " + rep.server_version + " · as role " + rep.role + " · " + ms(rep.duration_ms)));
        out.appendChild(head);
        var chips = el("div", "checks");
        rep.checks.forEach(function (c) {
          var chip = el("span", "badge st-" + c.status, c.check);
          chip.title = c.summary + (c.missing_privilege ? " — " + c.missing_privilege : "") + (c.error ? " — " + c.error : "");
          chips.appendChild(chip);
        });
        out.appendChild(chips);
        var any = false;
        rep.checks.forEach(function (c) {
          (c.findings || []).forEach(function (f) { any = true; out.appendChild(finding(f, c.title || c.check)); });
          if (c.status === "unknown") { any = true; out.appendChild(finding({ status: "unknown", summary: c.summary + ": " + (c.missing_privilege || c.error || "") }, c.check)); }
        });
        if (!any) out.appendChild(el("p", "hint", "Every check passed."));
      }
      out.appendChild(el("h2", null, "Top queries (pg_stat_statements)"));
      if (h.top_error) out.appendChild(el("div", "note-box", h.top_error));
      if (h.top) {
        out.appendChild(table([
          ["Query", function (s) { var c = el("code", "sql", s.query); return c; }],
          ["Calls", function (s) { return s.calls; }, "num"],
          ["Total", function (s) { return ms(s.total_exec_ms); }, "num"],
          ["Mean", function (s) { return ms(s.mean_exec_ms); }, "num"],
          ["Rows", function (s) { return s.rows; }, "num"],
          ["Share", function (s) { return s.time_percent.toFixed(1) + "%"; }, "num"],
        ], h.top.statements || []));
      }
      out.appendChild(el("h2", null, "Statements pgherd ran here (last " + 500 + " calls)"));
      out.appendChild(table([
        ["SQL", function (s) { return el("code", "sql", s.sql); }],
        ["Tool", function (s) { return s.tool; }],
        ["Calls", function (s) { return s.calls; }, "num"],
        ["Errors", function (s) { return s.errors; }, "num"],
        ["Mean", function (s) { return ms(s.mean_ms); }, "num"],
        ["Max", function (s) { return ms(s.max_ms); }, "num"],
      ], h.seen || []));
    }).catch(function (err) { out.textContent = ""; out.appendChild(el("div", "error-box", err.message)); })
      .then(function () { btn.disabled = false; });
  });

  // ---- Plan viewer ------------------------------------------------------------
  function hypoRow() {
    var row = el("div", "hypo-row");
    var t = el("input"); t.placeholder = "table (orders)"; t.className = "h-table";
    var c = el("input"); c.placeholder = "columns (customer_id, created_at)"; c.className = "h-columns";
    var u = el("select"); u.className = "h-using";
    ["btree", "hash", "brin", "gist", "gin", "spgist"].forEach(function (m) { var o = el("option", null, m); o.value = m; u.appendChild(o); });
    var x = el("button", "quiet", "remove"); x.type = "button";
    x.addEventListener("click", function () { row.remove(); });
    [t, c, u, x].forEach(function (n) { row.appendChild(n); });
    $("p-hypo-rows").appendChild(row);
    return row;
  }
  $("p-hypo-add").addEventListener("click", hypoRow);
  $("plan-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var out = $("plan-out"), btn = $("p-run");
    var hyp = [];
    document.querySelectorAll("#p-hypo-rows .hypo-row").forEach(function (r) {
      var table = r.querySelector(".h-table").value.trim();
      var cols = r.querySelector(".h-columns").value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      if (table) hyp.push({ table: table, columns: cols, using: r.querySelector(".h-using").value });
    });
    btn.disabled = true;
    out.textContent = "";
    out.appendChild(el("p", "hint", "Explaining…"));
    api("POST", "/api/plan", { endpoint: $("p-endpoint").value, sql: $("p-sql").value, analyze: $("p-analyze").checked, hypothetical_indexes: hyp })
      .then(function (res) {
        out.textContent = "";
        if (res.error) { out.appendChild(el("div", "error-box", res.error)); return; }
        window.PgherdPlan.render(out, res);
      })
      .catch(function (err) { out.textContent = ""; out.appendChild(el("div", "error-box", err.message)); })
      .then(function () { btn.disabled = false; });
  });
})();
