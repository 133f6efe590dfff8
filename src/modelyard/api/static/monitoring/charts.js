/* Small hand-written SVG charts for the monitoring page: lines and stacked bars over time buckets.
   No library, nothing fetched: each call redraws one chart from the data it is given. */
"use strict";
(function (global) {
  var NS = "http://www.w3.org/2000/svg";
  var W = 600, H = 190, LEFT = 46, RIGHT = 8, TOP = 8, BOTTOM = 22;
  var COLORS = ["#2563eb", "#d97706", "#dc2626", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#6b7280"];

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 4, 6, 8, 10];  // quarters of these are round tick labels
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= value) return steps[i] * power;
    return 10 * power;
  }

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en");
    if (Math.abs(value) >= 10) return (Math.round(value * 10) / 10).toString();
    return (Math.round(value * 100) / 100).toString();
  }

  function clock(iso) { return iso ? iso.slice(11, 16) : ""; }

  function frame(svg, labels, max, unit) {
    var plotH = H - TOP - BOTTOM, plotW = W - LEFT - RIGHT;
    for (var t = 0; t <= 4; t++) {
      var y = TOP + plotH - (plotH * t) / 4;
      svg.appendChild(el("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, "class": "axis" }));
      svg.appendChild(el("text", { x: LEFT - 4, y: y + 3, "text-anchor": "end" }, fmt((max * t) / 4)));
    }
    if (unit) svg.appendChild(el("text", { x: 2, y: TOP + 8 }, unit));
    var n = labels.length;
    for (var i = 0; i < n; i += Math.max(1, Math.floor(n / 6))) {
      var x = LEFT + (plotW * (i + 0.5)) / n;
      svg.appendChild(el("text", { x: x, y: H - 6, "text-anchor": "middle" }, clock(labels[i])));
    }
    return { plotW: plotW, plotH: plotH };
  }

  function empty(svg) {
    svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", "class": "empty" }, "no calls in this window"));
  }

  function mount(container, label) {
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img", "aria-label": label });
    container.replaceChildren(svg);
    return svg;
  }

  /* series: [{name, values: [number|null]}] over labels (bucket start times). */
  function line(container, labels, series, options) {
    options = options || {};
    var svg = mount(container, options.label || "");
    var max = 0, any = false;
    series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null) { any = true; max = Math.max(max, v); } }); });
    max = niceMax(max);
    var box = frame(svg, labels, max, options.unit);
    if (!any) empty(svg);
    var n = labels.length;
    series.forEach(function (s, k) {
      var color = COLORS[k % COLORS.length], path = "", pen = false;
      s.values.forEach(function (v, i) {
        if (v === null) { pen = false; return; }
        var x = LEFT + (box.plotW * (i + 0.5)) / n, y = TOP + box.plotH - (box.plotH * v) / max;
        path += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1) + " ";
        pen = true;
        svg.appendChild(el("circle", { cx: x, cy: y, r: 1.8, fill: color }));
      });
      if (path) svg.appendChild(el("path", { d: path, fill: "none", stroke: color, "stroke-width": 1.6,
                                             "vector-effect": "non-scaling-stroke" }));
    });
    return series.map(function (s, k) { return { name: s.name, color: COLORS[k % COLORS.length] }; });
  }

  /* Stacked bars: series [{name, values: [count]}], each bucket one bar. */
  function bars(container, labels, series, options) {
    options = options || {};
    var svg = mount(container, options.label || "");
    var n = labels.length, totals = new Array(n).fill(0);
    series.forEach(function (s) { s.values.forEach(function (v, i) { totals[i] += v || 0; }); });
    var max = niceMax(Math.max.apply(null, totals.concat([0])));
    var box = frame(svg, labels, max, options.unit);
    if (!totals.some(function (v) { return v > 0; })) empty(svg);
    var width = Math.max(1, box.plotW / n - 1), base = totals.map(function () { return 0; });
    series.forEach(function (s, k) {
      var color = COLORS[k % COLORS.length];
      s.values.forEach(function (v, i) {
        if (!v) return;
        var h = (box.plotH * v) / max, x = LEFT + (box.plotW * i) / n + 0.5;
        var y = TOP + box.plotH - (box.plotH * base[i]) / max - h;
        base[i] += v;
        var rect = el("rect", { x: x, y: y, width: width, height: h, fill: color });
        rect.appendChild(el("title", {}, s.name + ": " + v + " at " + clock(labels[i])));
        svg.appendChild(rect);
      });
    });
    return series.map(function (s, k) { return { name: s.name, color: COLORS[k % COLORS.length] }; });
  }

  /* items: [{name, value|null}] as horizontal bars (one per feature), with dashed marks at `marks`. */
  function hbars(container, items, options) {
    var rowH = 18, height = Math.max(60, TOP + BOTTOM + rowH * items.length), left = 130;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + height, role: "img", "aria-label": options.label || "" });
    container.replaceChildren(svg);
    var known = items.filter(function (item) { return item.value !== null && item.value !== undefined; });
    if (!known.length) {
      svg.appendChild(el("text", { x: W / 2, y: height / 2, "text-anchor": "middle", "class": "empty" }, options.empty || "no data"));
      return;
    }
    var max = niceMax(Math.max.apply(null, known.map(function (item) { return item.value; }).concat(options.marks || [])));
    var plotW = W - left - RIGHT, plotH = rowH * items.length;
    var labelled = -Infinity;
    (options.marks || []).forEach(function (mark) {
      var x = left + (plotW * mark) / max;
      svg.appendChild(el("line", { x1: x, x2: x, y1: TOP, y2: TOP + plotH, "class": "mark" }));
      if (x - labelled > 28) { svg.appendChild(el("text", { x: x, y: TOP + plotH + 14, "text-anchor": "middle" }, fmt(mark))); labelled = x; }
    });
    svg.appendChild(el("text", { x: W - RIGHT, y: TOP + plotH + 14, "text-anchor": "end" }, fmt(max)));
    items.forEach(function (item, i) {
      var y = TOP + i * rowH;
      svg.appendChild(el("text", { x: left - 6, y: y + rowH - 5, "text-anchor": "end" }, item.name.slice(0, 20)));
      if (item.value === null || item.value === undefined) return;
      var color = item.value > (options.marks || [])[1] ? COLORS[2] : item.value > (options.marks || [])[0] ? COLORS[1] : COLORS[3];
      var width = Math.max(1, (plotW * Math.min(item.value, max)) / max);
      var rect = el("rect", { x: left, y: y + 3, width: width, height: rowH - 6, fill: color });
      rect.appendChild(el("title", {}, item.name + ": " + fmt(item.value)));
      svg.appendChild(rect);
      svg.appendChild(el("text", { x: left + width + 4, y: y + rowH - 5 }, fmt(item.value)));
    });
  }

  global.MonitoringCharts = { line: line, bars: bars, hbars: hbars, fmt: fmt, clock: clock };
})(window);
