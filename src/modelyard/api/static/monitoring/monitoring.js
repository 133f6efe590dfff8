/* The monitoring page: sign in (login or API key; the token stays in this tab's sessionStorage), read the
   JSON routes, then refresh the series over /ws every 2 s (longer windows: 10 s, 30 s) ({"type": "request_monitoring"}); when the
   socket drops, poll /monitoring/api/metrics instead and try the socket again. Secrets never go in a URL. */
"use strict";
(function () {
  var SLOW_REFRESH_MS = 10000, RECONNECT_MS = 5000, TOKEN_KEY = "modelyard.monitoring.token";
  var base = location.pathname.replace(/\/monitoring\/?$/, "");
  var charts = window.MonitoringCharts, fmt = charts.fmt;
  var state = { token: sessionStorage.getItem(TOKEN_KEY), socket: null, timer: null, slowTimer: null, poller: null,
                reconnect: null, window: 60, updates: 0, calls: null };

  function $(id) { return document.getElementById(id); }
  // a longer window has longer buckets: refreshing it as often would only repeat the same (heavier) query
  function refreshMs() { return state.window <= 60 ? 2000 : state.window <= 360 ? 10000 : 30000; }
  function text(id, value) { $(id).textContent = value; }
  function ms(value) { return value === null || value === undefined ? "–" : fmt(value) + " ms"; }
  function pct(value) { return value === null || value === undefined ? "–" : fmt(value) + " %"; }

  function api(path, options) {
    options = options || {};
    var headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
    if (state.token) headers["Authorization"] = "Bearer " + state.token;
    return fetch(base + path, Object.assign({}, options, { headers: headers })).then(function (response) {
      if (response.status === 401) { signOut("Your sign-in has expired; sign in again."); throw new Error("401"); }
      return response.json().then(function (body) { return { status: response.status, body: body }; });
    });
  }

  function live(label, kind) { var node = $("live"); node.textContent = label; node.className = "live " + kind; }

  // --- sign in / out -------------------------------------------------------------------------------------

  function showSignIn(message) {
    $("sign-in").hidden = false; $("board").hidden = true; $("controls").hidden = true;
    text("sign-in-error", message || "");
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    stopLive();
    showSignIn(message);
  }

  function signedIn(token) {
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("sign-in").hidden = true; $("board").hidden = false; $("controls").hidden = false;
    $("password").value = ""; $("api-key").value = "";
    start();
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    fetch(base + "/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("username").value, password: $("password").value }) })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (answer) {
        if (answer.ok && answer.body.access_token) signedIn(answer.body.access_token);
        else text("sign-in-error", answer.body.message || "Sign-in failed");
      }).catch(function () { text("sign-in-error", "The server did not answer"); });
  });

  $("key-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var key = $("api-key").value.trim();
    fetch(base + "/api/auth/user", { headers: { "X-API-Key": key } }).then(function (r) {
      if (r.ok) signedIn(key); else text("sign-in-error", "This API key is not valid");
    }).catch(function () { text("sign-in-error", "The server did not answer"); });
  });

  $("sign-out").addEventListener("click", function () { signOut(""); });
  $("drift-model").addEventListener("change", function () { if (state.models) renderDrift(state.models); });
  $("window").addEventListener("change", function () {
    state.window = parseInt($("window").value, 10);
    state.calls = null;
    refreshNow();
    if (state.timer) { clearInterval(state.timer); state.timer = setInterval(refreshNow, refreshMs()); }
    if (state.poller) { stopPolling(); startPolling(); }
  });

  // --- rendering -----------------------------------------------------------------------------------------

  function legend(id, items, values) {
    var node = $(id);
    node.replaceChildren();
    items.forEach(function (item, k) {
      var swatch = document.createElement("span");
      swatch.className = "legend"; swatch.style.background = item.color;
      node.appendChild(swatch);
      node.appendChild(document.createTextNode(item.name + ": " + values[k]));
    });
  }

  function last(values) {
    for (var i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i];
    return null;
  }

  function renderMetrics(m) {
    state.updates += 1;
    document.body.dataset.updates = String(state.updates);
    var t = m.totals, s = m.series, labels = s.bucket_starts;
    text("scope", m.scope === "all users" ? "All users' prediction calls" : "Your prediction calls");
    text("range", charts.clock(m.start) + "–" + charts.clock(m.end) + " UTC (" + m.window_minutes + " min)");
    text("bucket", m.bucket_seconds + " s");
    text("total-calls", t.calls.toLocaleString("en"));
    text("calls-per-minute", fmt(t.calls_per_minute));
    text("total-errors", t.errors.toLocaleString("en"));
    text("error-rate", pct(t.error_rate));
    text("latency-p50", ms(t.latency_ms.p50));
    text("latency-p95", ms(t.latency_ms.p95));
    text("latency-p99", ms(t.latency_ms.p99));
    text("total-rows", t.rows.toLocaleString("en"));
    text("process-rpm", m.process && m.process.requests_per_minute !== undefined ? fmt(m.process.requests_per_minute) : "–");

    var rate = charts.line($("chart-rate"), labels, [{ name: "calls/min", values: s.calls_per_minute }],
      { unit: "/min", label: "Prediction calls per minute over the window" });
    legend("latest-rate", rate, ["last bucket " + fmt(last(s.calls_per_minute)) + "/min, mean " + fmt(t.calls_per_minute) + "/min"]);

    var lat = charts.line($("chart-latency"), labels, [
      { name: "p50", values: s.latency_ms.p50 }, { name: "p95", values: s.latency_ms.p95 }, { name: "p99", values: s.latency_ms.p99 }],
      { unit: "ms", label: "Latency percentiles of prediction calls, milliseconds" });
    legend("latest-latency", lat, [ms(t.latency_ms.p50), ms(t.latency_ms.p95), ms(t.latency_ms.p99)]);

    var names = Object.keys(s.by_model);
    var models = charts.bars($("chart-models"), labels, names.map(function (n) { return { name: n, values: s.by_model[n] }; }),
      { unit: "calls", label: "Prediction calls per model in each bucket" });
    legend("latest-models", models, names.map(function (n) { return s.by_model[n].reduce(function (a, b) { return a + b; }, 0); }));
    if (!names.length) text("latest-models", "no calls in this window");

    var errs = charts.line($("chart-errors"), labels, [{ name: "errors/min", values: s.errors_per_minute }],
      { unit: "/min", label: "Failed prediction calls per minute" });
    legend("latest-errors", errs, [t.errors + " failed of " + t.calls + " (" + pct(t.error_rate) + ")"]);

    renderJobs(m.jobs);
    if (state.calls !== null && state.calls !== t.calls) refreshSlow();  // new calls: models and alerts too
    state.calls = t.calls;
  }

  function renderJobs(jobs) {
    var body = $("jobs-table").tBodies[0];
    body.replaceChildren();
    var statuses = Object.keys(Object.assign({}, jobs.by_status, jobs.created_in_window)).sort();
    if (!statuses.length) statuses = ["(no jobs)"];
    statuses.forEach(function (status) {
      var row = body.insertRow();
      [status, jobs.by_status[status] || 0, jobs.created_in_window[status] || 0].forEach(function (v) {
        row.insertCell().textContent = status === "(no jobs)" && v === 0 ? "" : v;
      });
    });
  }

  function renderModels(status) {
    var body = $("models-table").tBodies[0];
    body.replaceChildren();
    Object.keys(status.models).forEach(function (name) {
      var m = status.models[name], row = body.insertRow();
      [name, m.version || "–", m.predictions_count, pct(m.error_rate),
       m.avg_processing_time === null ? "–" : ms(m.avg_processing_time * 1000),
       m.avg_confidence === null ? "–" : fmt(m.avg_confidence), m.health_score === null ? "–" : fmt(m.health_score),
       m.status, driftCell(m.drift)].forEach(function (v) { row.insertCell().textContent = v; });
    });
    state.models = status.models;
    renderDrift(status.models);
  }

  function driftCell(drift) {
    if (!drift) return "–";
    return drift.max_psi === null ? drift.status : drift.status + " (" + fmt(drift.max_psi) + ", " + drift.worst_feature + ")";
  }

  function renderDrift(models) {
    var select = $("drift-model"), chosen = select.value;
    var names = Object.keys(models).filter(function (n) { return models[n].drift && Object.keys(models[n].drift.features).length; });
    select.replaceChildren();
    names.forEach(function (n) { var option = document.createElement("option"); option.value = option.textContent = n; select.appendChild(option); });
    if (names.indexOf(chosen) >= 0) select.value = chosen;
    var drift = names.length ? models[select.value].drift : null;
    charts.hbars($("chart-drift"), drift ? Object.keys(drift.features).map(function (f) { return { name: f, value: drift.features[f] }; }) : [],
      { label: "Population stability index per feature", marks: [0.1, 0.25],
        empty: "no inputs counted yet for a model trained here (uploaded and imported models have no training reference)" });
    text("latest-drift", drift ? drift.status + ": largest " + fmt(drift.max_psi) + " (" + drift.worst_feature + ") over " +
      drift.rows.toLocaleString("en") + " rows" : "");
  }

  function alertItems(body) {
    if (Array.isArray(body)) return body;
    if (!body || typeof body !== "object") return [];
    var found = [];
    ["alerts", "active_alerts", "active", "recent"].forEach(function (key) {
      if (Array.isArray(body[key])) found = found.concat(body[key]);
    });
    return found;
  }

  function renderAlerts(lists) {
    var node = $("alerts"), seen = {};
    node.replaceChildren();
    lists.forEach(function (alert) {
      var message = alert.message || alert.title || alert.rule || JSON.stringify(alert);
      var key = (alert.severity || "") + message;
      if (seen[key]) return;
      seen[key] = true;
      var item = document.createElement("li");
      item.className = String(alert.severity || alert.level || "").toLowerCase();
      var when = alert.status === "resolved" ? "resolved " + (alert.resolved_at || "")
        : alert.triggered_at ? "since " + alert.triggered_at : alert.timestamp || "";
      item.textContent = (alert.severity ? "[" + alert.severity + "] " : "") + message + (when ? " · " + when : "");
      node.appendChild(item);
    });
    if (!node.children.length) {
      var none = document.createElement("li");
      none.textContent = "no active alerts";
      node.appendChild(none);
    }
  }

  // --- data ----------------------------------------------------------------------------------------------

  function pollMetrics() {
    return api("/monitoring/api/metrics?window=" + state.window).then(function (answer) {
      if (answer.status === 200) renderMetrics(answer.body);
    }).catch(function () { live("server unreachable", "off"); });
  }

  function refreshSlow() {
    var alerts = [];
    api("/monitoring/api/models").then(function (answer) {
      if (answer.status !== 200) return;
      renderModels(answer.body);
      alerts = alertItems(answer.body);
      // alert rules, where this deployment has them; a 404 means it has none
      return api("/monitoring/api/alerts?status=active").then(function (extra) {
        if (extra.status === 200) alerts = alertItems(extra.body).concat(alerts);
      }).catch(function () {});
    }).then(function () { renderAlerts(alerts); }).catch(function () {});
  }

  function refreshNow() {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify({ type: "request_monitoring", window: state.window }));
    } else {
      pollMetrics();
    }
  }

  function startPolling() {
    if (state.poller) return;
    live("polling", "poll");
    state.poller = setInterval(pollMetrics, refreshMs());
  }

  function stopPolling() { clearInterval(state.poller); state.poller = null; }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var socket = new WebSocket(scheme + "//" + location.host + base + "/ws");
    state.socket = socket;
    socket.onopen = function () { socket.send(JSON.stringify({ type: "auth", token: state.token })); };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "connected") {
        stopPolling();
        live("live", "ok");
        text("who", message.user);
        refreshNow();
        clearInterval(state.timer);
        state.timer = setInterval(refreshNow, refreshMs());
      } else if (message.type === "monitoring") {
        renderMetrics(message);
      } else if (message.type === "error" && message.code === "AUTHENTICATION_REQUIRED") {
        signOut("Your sign-in has expired; sign in again.");
      }
    };
    socket.onclose = function () {
      clearInterval(state.timer);
      state.timer = null;
      if (state.socket !== socket || !state.token) return;  // signed out, or replaced
      state.socket = null;
      startPolling();
      state.reconnect = setTimeout(connect, RECONNECT_MS);
    };
  }

  function stopLive() {
    clearInterval(state.timer); clearInterval(state.slowTimer); clearTimeout(state.reconnect); stopPolling();
    var socket = state.socket;
    state.socket = null;
    if (socket) socket.close();
  }

  function start() {
    stopLive();
    live("connecting…", "");
    pollMetrics();
    refreshSlow();
    state.slowTimer = setInterval(refreshSlow, SLOW_REFRESH_MS);
    connect();
  }

  if (state.token) signedIn(state.token); else showSignIn("");
})();
