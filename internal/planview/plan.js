// pgherd plan viewer: draws explain_query's result (EXPLAIN FORMAT JSON)
// as a tree of nodes with cost, time and row bars; highlights expensive
// nodes and row misestimates; shows a node's details on click. Used by the
// console and by the MCP App (ui://pgherd/ENDPOINT/plan). DOM APIs only: every value
// from the plan is set as text, never as HTML.
(function () {
  "use strict";

  // A node is expensive when it holds at least this share of the plan's
  // cost (or, with ANALYZE, of its time) by itself.
  var EXPENSIVE = 0.3;
  // Estimated and actual rows differing by this factor is a misestimate.
  var MISESTIMATE = 10;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function num(x, digits) {
    if (typeof x !== "number" || !isFinite(x)) return "?";
    if (digits === undefined) digits = x >= 100 ? 0 : 2;
    return x.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }

  function kids(n) { return Array.isArray(n.Plans) ? n.Plans : []; }

  // walk visits every node depth first, parents before children.
  function walk(n, fn, depth) {
    fn(n, depth || 0);
    kids(n).forEach(function (k) { walk(k, fn, (depth || 0) + 1); });
  }

  function count(plan) { var c = 0; walk(plan, function () { c++; }); return c; }

  // Exclusive figures: what a node costs or takes by itself.
  function selfCost(n) {
    var c = n["Total Cost"] || 0;
    kids(n).forEach(function (k) { c -= k["Total Cost"] || 0; });
    return Math.max(c, 0);
  }
  function totalTime(n) {
    if (typeof n["Actual Total Time"] !== "number") return null;
    return n["Actual Total Time"] * (n["Actual Loops"] || 1);
  }
  function selfTime(n) {
    var t = totalTime(n);
    if (t === null) return null;
    kids(n).forEach(function (k) { var kt = totalTime(k); if (kt !== null && !k["Subplan Name"]) t -= kt; });
    return Math.max(t, 0);
  }
  function actualRows(n) {
    if (typeof n["Actual Rows"] !== "number") return null;
    return n["Actual Rows"] * (n["Actual Loops"] || 1);
  }
  function estimatedRows(n) { return (n["Plan Rows"] || 0) * (n["Actual Loops"] || 1); }
  function misestimate(n) {
    var a = actualRows(n);
    if (a === null || n["Actual Loops"] === 0) return null;
    var e = Math.max(estimatedRows(n), 1), aa = Math.max(a, 1);
    var f = aa > e ? aa / e : e / aa;
    return f >= MISESTIMATE ? { factor: f, over: e > aa } : null;
  }

  function title(n) {
    var t = n["Node Type"] || "?";
    if (n.Strategy && n.Strategy !== "Plain") t = n.Strategy + " " + t;
    if (n["Join Type"] && n["Join Type"] !== "Inner") t += " " + n["Join Type"];
    if (n["Parallel Aware"]) t = "Parallel " + t;
    return t;
  }
  function target(n) {
    var parts = [];
    if (n["Index Name"]) parts.push("using " + n["Index Name"]);
    if (n["Relation Name"]) {
      var on = (n.Schema ? n.Schema + "." : "") + n["Relation Name"];
      if (n.Alias && n.Alias !== n["Relation Name"]) on += " " + n.Alias;
      parts.push("on " + on);
    }
    if (n["CTE Name"]) parts.push("CTE " + n["CTE Name"]);
    if (n["Function Name"]) parts.push("function " + n["Function Name"]);
    if (n["Subplan Name"]) parts.push(n["Subplan Name"]);
    return parts.join(" ");
  }

  function bar(kind, share, label) {
    var frag = document.createDocumentFragment();
    frag.appendChild(el("span", "k", kind));
    var b = el("span", "bar " + kind);
    var i = el("i");
    i.style.width = Math.max(0, Math.min(100, share * 100)).toFixed(1) + "%";
    b.appendChild(i);
    frag.appendChild(b);
    frag.appendChild(el("span", "v", label));
    return frag;
  }

  // render draws result (explain_query's structured result: plan,
  // total_cost, analyzed, hypothetical_indexes…) into container.
  function render(container, result) {
    container.textContent = "";
    var plan = result && result.plan;
    if (!plan || typeof plan !== "object") {
      container.appendChild(el("p", "error-box", "No plan in this result."));
      return null;
    }
    var root = el("div", "plan");
    var hypo = {};
    (result.hypothetical_indexes || []).forEach(function (h) { hypo[h.name] = h; });
    var totalCost = plan["Total Cost"] || 0;
    var rootTime = totalTime(plan);
    var maxRows = 1;
    walk(plan, function (n) { maxRows = Math.max(maxRows, actualRows(n) === null ? estimatedRows(n) : actualRows(n)); });
    var nodes = [];
    walk(plan, function (n) { nodes.push(n); });

    var sum = el("div", "plan-summary");
    function fact(label, value) {
      var s = el("span", null, label + " ");
      s.appendChild(el("b", null, value));
      sum.appendChild(s);
    }
    fact("nodes", nodes.length);
    fact("total cost", num(totalCost));
    fact("estimated rows", num(plan["Plan Rows"], 0));
    if (typeof result.planning_ms === "number") fact("planning", num(result.planning_ms) + " ms");
    if (typeof result.execution_ms === "number") fact("execution", num(result.execution_ms) + " ms");
    fact("mode", result.analyzed ? "EXPLAIN ANALYZE" : "EXPLAIN");
    root.appendChild(sum);

    if (result.hypothetical_indexes && result.hypothetical_indexes.length) {
      var hl = el("ul", "plan-hypo");
      result.hypothetical_indexes.forEach(function (h) {
        var li = el("li", h.used ? "used" : "unused");
        li.appendChild(el("span", "badge " + (h.used ? "st-ok" : "st-unknown"), h.used ? "used" : "not used"));
        li.appendChild(document.createTextNode(" " + h.definition + " (~" + num(h.estimated_size_bytes / 1024, 0) + " KiB)"));
        li.setAttribute("data-hypo", h.name);
        hl.appendChild(li);
      });
      root.appendChild(hl);
    }

    var layout = el("div", "plan-layout");
    var treeBox = el("div");
    var details = el("aside", "plan-details");
    details.appendChild(el("p", "hint", "Click a node for its details."));
    var selected = null;

    function showDetails(n, btn) {
      if (selected) selected.classList.remove("selected");
      selected = btn;
      btn.classList.add("selected");
      details.textContent = "";
      details.appendChild(el("h3", null, title(n) + (target(n) ? " " + target(n) : "")));
      var t = el("table");
      var tb = el("tbody");
      var extra = [["self cost", num(selfCost(n))]];
      if (selfTime(n) !== null) extra.push(["self time (ms)", num(selfTime(n))]);
      extra.forEach(function (kv) {
        var tr = el("tr"); tr.appendChild(el("th", null, kv[0])); tr.appendChild(el("td", null, kv[1])); tb.appendChild(tr);
      });
      Object.keys(n).forEach(function (k) {
        if (k === "Plans") return;
        var v = n[k];
        var tr = el("tr");
        tr.appendChild(el("th", null, k));
        tr.appendChild(el("td", null, Array.isArray(v) ? v.join(", ") : (typeof v === "object" && v !== null ? JSON.stringify(v) : v)));
        tb.appendChild(tr);
      });
      t.appendChild(tb);
      details.appendChild(t);
    }

    function drawNode(n) {
      var li = el("li");
      var btn = el("button", "plan-node");
      btn.type = "button";
      var head = el("div");
      head.appendChild(el("span", "title", title(n)));
      var tg = target(n);
      if (tg) head.appendChild(el("span", "on", " " + tg));
      var tags = el("span", "tags");
      var sc = selfCost(n), st = selfTime(n);
      var costShare = totalCost > 0 ? sc / totalCost : 0;
      var timeShare = st !== null && rootTime ? st / rootTime : null;
      if ((timeShare !== null ? timeShare : costShare) >= EXPENSIVE && nodes.length > 1) {
        btn.classList.add("expensive");
        tags.appendChild(el("span", "tag t-expensive", "expensive"));
      }
      var mis = misestimate(n);
      if (mis) {
        btn.classList.add("misestimate");
        tags.appendChild(el("span", "tag t-misestimate", (mis.over ? "over" : "under") + "estimated ×" + num(mis.factor, 0)));
      }
      if (n["Index Name"] && hypo[n["Index Name"]]) {
        btn.classList.add("hypothetical");
        btn.setAttribute("data-hypothetical", n["Index Name"]);
        tags.appendChild(el("span", "tag t-hypo", "hypothetical index"));
      }
      head.appendChild(tags);
      btn.appendChild(head);
      var bars = el("div", "bars");
      bars.appendChild(bar("cost", costShare, num(sc) + " (" + num(costShare * 100, 0) + "%)"));
      if (timeShare !== null) bars.appendChild(bar("time", timeShare, num(st) + " ms"));
      var rows = actualRows(n) === null ? estimatedRows(n) : actualRows(n);
      bars.appendChild(bar("rows", maxRows > 0 ? Math.log(rows + 1) / Math.log(maxRows + 1) : 0, num(rows, 0)));
      btn.appendChild(bars);
      var rl = "est. rows " + num(n["Plan Rows"], 0);
      if (actualRows(n) !== null) rl += " · actual " + num(n["Actual Rows"], 0) + " × " + num(n["Actual Loops"], 0) + " loops";
      btn.appendChild(el("div", "rows-line", rl));
      btn.addEventListener("click", function () { showDetails(n, btn); });
      li.appendChild(btn);
      var ks = kids(n);
      if (ks.length) {
        var ul = el("ul");
        ks.forEach(function (k) { ul.appendChild(drawNode(k)); });
        li.appendChild(ul);
      }
      return li;
    }

    var tree = el("ul", "plan-tree");
    tree.appendChild(drawNode(plan));
    treeBox.appendChild(tree);
    layout.appendChild(treeBox);
    layout.appendChild(details);
    root.appendChild(layout);
    container.appendChild(root);
    return { nodes: nodes.length };
  }

  window.PgherdPlan = { render: render, count: count };
})();
