// The buyersync dashboard: fetches /api/dashboard and draws it. No libraries, no CDN.
// Auth: the page is served only to a browser that holds the token cookie (set by
// /?token=...), and fetch() sends that cookie; nothing here stores the token.
"use strict";

(function () {
  const params = new URLSearchParams(window.location.search);
  const refreshSeconds = Math.max(5, Number(params.get("refresh")) || 30);
  const SVG = "http://www.w3.org/2000/svg";

  function $(id) { return document.getElementById(id); }

  function setNum(id, value, text) {
    const el = $(id);
    el.dataset.value = value === null || value === undefined ? "" : String(value);
    el.textContent = text !== undefined ? text
      : (value === null || value === undefined ? "—" : Number(value).toLocaleString("en-US"));
  }

  function fmtTime(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toISOString().replace("T", " ").slice(0, 19) + "Z";
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  // A cell that links to the sheet (Google Sheets) or names the file and cell.
  function linkCell(tr, link) {
    const td = document.createElement("td");
    td.className = "cell-link";
    if (link) {
      td.dataset.value = link.cell;
      if (link.url) {
        const a = document.createElement("a");
        a.href = link.url; a.target = "_blank"; a.rel = "noopener noreferrer";
        a.textContent = link.where; a.title = "open the cell in the sheet";
        td.appendChild(a);
      } else {
        td.textContent = link.where;
      }
    }
    tr.appendChild(td);
  }

  function cause(g) {
    return g.category + (g.column ? " in " + g.column : "");
  }

  function problemRows(id, groups, open) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren();
    if (!groups.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = open ? 7 : 4; td.className = "muted"; td.textContent = "none";
      tr.appendChild(td); body.appendChild(tr);
      return;
    }
    for (const g of groups) {
      const tr = document.createElement("tr");
      tr.className = "problem";
      tr.dataset.category = g.category;
      tr.dataset.column = g.column || "";
      tr.dataset.kind = g.kind;
      tr.dataset.count = String(g.count);
      tr.dataset.buyers = String(g.buyers);
      cell(tr, cause(g) + (g.acknowledged ? ` (${g.acknowledged} acknowledged)` : ""));
      cell(tr, g.buyers, "n");
      cell(tr, g.count, "n");
      if (open) {
        const e = g.example || {};
        cell(tr, (e.buyer_number ? `buyer ${e.buyer_number}: ` : "") + (e.example || e.message || ""));
        linkCell(tr, g.link);
        const fix = document.createElement("td");
        const code = document.createElement("code");
        code.textContent = g.fix.command;
        fix.appendChild(code);
        fix.appendChild(document.createTextNode(" — " + g.fix.text));
        tr.appendChild(fix);
        cell(tr, fmtTime(g.first_seen) + " / " + fmtTime(g.last_seen));
      } else {
        cell(tr, fmtTime(g.last_seen));
      }
      body.appendChild(tr);
    }
  }

  function watching(w) {
    const sheet = $("watch-sheet");
    const s = (w || {}).sheet;
    sheet.textContent = s ? s.label : "no sheet configured";
    sheet.dataset.value = s ? s.name : "";
    if (s && s.url) { sheet.href = s.url; sheet.target = "_blank"; sheet.rel = "noopener noreferrer"; }
    else sheet.removeAttribute("href");
    const db = (w || {}).database || {};
    $("watch-db").textContent = db.label || "—";
    $("watch-db").dataset.value = db.label || "";
  }

  function fillTable(id, rows, columns) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren();
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = columns.length; td.className = "muted"; td.textContent = "none";
      tr.appendChild(td); body.appendChild(tr);
      return;
    }
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const [get, cls] of columns) {
        if (cls === "link") linkCell(tr, get(row));
        else cell(tr, get(row), cls);
      }
      body.appendChild(tr);
    }
  }

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A line chart of several series over the same x positions.
  function lineChart(target, series, labels) {
    const W = 600, H = 220, L = 50, R = 10, T = 10, B = 30;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    const all = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
    const n = labels.length;
    if (!n || !all.length) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no health checks yet"));
      target.replaceChildren(svg);
      return;
    }
    const max = Math.max(1, ...all);
    const x = (i) => L + (n === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
    const y = (v) => T + (H - T - B) * (1 - v / max);
    svg.appendChild(el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
    svg.appendChild(el("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
    svg.appendChild(el("text", { x: L - 4, y: T + 8, "text-anchor": "end" }, max.toLocaleString("en-US")));
    svg.appendChild(el("text", { x: L - 4, y: H - B, "text-anchor": "end" }, "0"));
    svg.appendChild(el("text", { x: L, y: H - 8 }, labels[0]));
    svg.appendChild(el("text", { x: W - R, y: H - 8, "text-anchor": "end" }, labels[n - 1]));
    for (const s of series) {
      const pts = s.values.map((v, i) => (v === null || v === undefined ? null : `${x(i)},${y(v)}`))
        .filter(Boolean).join(" ");
      svg.appendChild(el("polyline", { points: pts, class: s.cls }));
      s.values.forEach((v, i) => {
        if (v !== null && v !== undefined) {
          const dot = el("circle", { cx: x(i), cy: y(v), r: 2.5, class: s.cls });
          dot.appendChild(el("title", {}, `${s.name}: ${v} (${labels[i]})`));
          svg.appendChild(dot);
        }
      });
    }
    const legend = document.createElement("div");
    legend.className = "legend";
    for (const s of series) {
      const span = document.createElement("span");
      span.className = s.cls; span.textContent = "— " + s.name;
      legend.appendChild(span);
    }
    target.replaceChildren(svg, legend);
  }

  // One bar per run; red when the run had failed rows or did not finish.
  function barChart(target, runs) {
    const W = 600, H = 220, L = 50, R = 10, T = 10, B = 30;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    const data = runs.filter((r) => r.duration_s !== null && r.duration_s !== undefined);
    if (!data.length) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no finished runs yet"));
      target.replaceChildren(svg);
      return;
    }
    const max = Math.max(...data.map((r) => r.duration_s), 0.001);
    const step = Math.min(40, (W - L - R) / data.length);
    svg.appendChild(el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
    svg.appendChild(el("text", { x: L - 4, y: T + 8, "text-anchor": "end" }, max.toFixed(2)));
    svg.appendChild(el("text", { x: L - 4, y: H - B, "text-anchor": "end" }, "0"));
    data.forEach((r, i) => {
      const h = ((H - T - B) * r.duration_s) / max;
      const bad = r.failed > 0 || !["succeeded", "dry_run"].includes(r.status);
      const bar = el("rect", { x: L + i * step + step * 0.15, y: H - B - h, width: step * 0.7,
        height: Math.max(h, 1), class: bad ? "bar failed" : "bar" });
      bar.appendChild(el("title", {}, `${fmtTime(r.started_at)} ${r.operation}: ${r.duration_s.toFixed(3)} s, ${r.rows_read} rows, ${r.status}`));
      svg.appendChild(bar);
    });
    target.replaceChildren(svg);
  }

  function render(d) {
    $("generated-at").textContent = fmtTime(d.generated_at);
    const state = $("state");
    // The state now: the alerts that hold now, not the last check's history.
    const healthy = d.healthy_now === undefined ? d.healthy : d.healthy_now;
    state.dataset.value = healthy === null || healthy === undefined ? "" : String(healthy);
    state.textContent = healthy === true ? "healthy" : healthy === false ? "unhealthy" : "no health check yet";
    state.className = "badge " + (healthy === true ? "healthy" : healthy === false ? "unhealthy" : "unknown");
    watching(d.watching);
    const now = d.now || {};
    const pct = (v) => (v === null || v === undefined ? "—" : (v * 100).toFixed(2) + " %");
    setNum("spreadsheet-count", d.spreadsheet_count);
    setNum("database-count", d.database_count);
    const missing = now.missing_count === undefined ? d.missing_count : now.missing_count;
    setNum("missing-count", missing);
    $("missing-count").classList.toggle("bad", (missing || 0) > 0);
    const rate = now.error_rate === undefined ? d.error_rate : now.error_rate;
    setNum("error-rate", rate, pct(rate));
    setNum("last-sync-error-rate", now.last_sync_error_rate, pct(now.last_sync_error_rate));
    setNum("open-problems", d.open_problems);
    setNum("resolved-problems", d.resolved_problems || 0);
    problemRows("problems", d.problems || [], true);
    problemRows("resolved", d.resolved_problem_groups || [], false);
    setNum("queue-depth", d.retry_queue.depth);
    setNum("permanent-failures", d.retry_queue.permanent_failures);
    $("permanent-failures").classList.toggle("bad", d.retry_queue.permanent_failures > 0);
    setNum("errors-total", d.errors.total);
    setNum("errors-24h", d.errors.last_24h);
    const last = d.last_sync;
    setNum("last-sync", last ? last.run_id : null, last ? fmtTime(last.finished_at) : "never");
    $("last-sync-detail").textContent = last
      ? `${last.rows_read} rows in ${Number(last.duration_s || 0).toFixed(2)} s (${Math.round(last.rows_per_s || 0)} rows/s)` : "";
    const alerts = d.present_alerts || [];
    $("alerts").replaceChildren(...alerts.map((a) => {
      const li = document.createElement("li");
      li.className = "alert";
      li.dataset.condition = a.condition;
      const title = document.createElement("b");
      title.textContent = a.title;
      li.appendChild(title);
      const how = document.createElement("span");
      how.className = "delivery";
      how.dataset.value = a.delivery ? a.delivery.status : "";
      how.textContent = " — " + (a.delivery ? a.delivery.text + " (" + fmtTime(a.delivery.created_at) + ")" : "no delivery recorded yet");
      li.appendChild(how);
      const fix = document.createElement("code");
      fix.textContent = a.command;
      li.appendChild(document.createTextNode(" — "));
      li.appendChild(fix);
      return li;
    }));
    const calm = !(alerts.length || (d.problems || []).length);
    $("all-well").hidden = !calm;
    $("now-box").classList.toggle("calm", calm);
    fillTable("deliveries", d.delivery_history || [], [
      [(x) => fmtTime(x.created_at)], [(x) => x.title], [(x) => x.text]]);
    const history = (d.health_history || []).slice().reverse();
    lineChart($("health-chart"), [
      { name: "sheet", cls: "sheet", values: history.map((h) => h.spreadsheet_count) },
      { name: "database", cls: "db", values: history.map((h) => h.database_count) },
      { name: "missing", cls: "miss", values: history.map((h) => h.missing_count) },
    ], history.map((h) => fmtTime(h.check_time)));
    barChart($("duration-chart"), (d.recent_runs || []).slice().reverse());
    fillTable("errors-by-type", Object.entries(d.errors.by_type), [[(e) => e[0]], [(e) => e[1], "n"]]);
    fillTable("latest-errors", d.latest_errors || [], [
      [(e) => fmtTime(e.created_at)], [(e) => e.row_number, "n"], [(e) => e.link, "link"],
      [(e) => e.buyer_number], [(e) => e.error_type],
      [(e) => (e.resolved_at ? "resolved" : "open")], [(e) => e.error_message]]);
    fillTable("permanent-table", d.permanent_failures || [], [
      [(e) => e.buyer_number], [(e) => e.row_number, "n"],
      [(e) => (e.max_attempts ? `${e.attempt_count} / ${e.max_attempts}` : e.attempt_count), "n"], [(e) => e.error_type], [(e) => e.last_error]]);
    fillTable("runs", d.recent_runs || [], [
      [(r) => fmtTime(r.started_at)], [(r) => r.operation], [(r) => r.status],
      [(r) => r.rows_read, "n"], [(r) => r.inserted, "n"], [(r) => r.updated, "n"], [(r) => r.failed, "n"],
      [(r) => (r.duration_s === null ? "" : Number(r.duration_s).toFixed(2)), "n"],
      [(r) => (r.rows_per_s === null ? "" : Math.round(r.rows_per_s)), "n"]]);
    document.body.dataset.loaded = "true";
  }

  async function refresh() {
    const problem = $("load-error");
    try {
      const response = await fetch("/api/dashboard", { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        window.location.assign("/");  // the server answers with the token form
        return;
      }
      if (!response.ok) throw new Error(`the API answered ${response.status}`);
      render(await response.json());
      problem.hidden = true;
    } catch (err) {
      problem.textContent = "could not load the data: " + err.message;
      problem.hidden = false;
    }
  }

  $("refresh-seconds").textContent = String(refreshSeconds);
  refresh();
  setInterval(refresh, refreshSeconds * 1000);
})();
