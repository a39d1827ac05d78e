/* The report's charts: equity against buy-and-hold, drawdown beneath, drawn with uPlot from
   the run's data in <script id="run-data">. The two charts share the cursor and the x range:
   drag to zoom, shift-drag to pan, double-click or "Reset zoom" to see the whole run. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("run-data").textContent);
  tradeRows(data.trade_list);
  monthlyRows(data.monthly);
  var curve = data.curve;
  var t = curve.t;
  var first = t[0], last = t[t.length - 1];
  var charts = [];
  var money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });
  var intraday = t.some(function (v) { return v % 86400 !== 0; });

  function timeText(seconds) {
    var iso = new Date(seconds * 1000).toISOString();
    return intraday ? iso.slice(0, 16).replace("T", " ") + " UTC" : iso.slice(0, 10);
  }
  function moneyText(u, v) { return v == null ? "—" : money.format(v); }
  function pctText(u, v) { return v == null ? "—" : (100 * v).toFixed(2) + " %"; }
  function utc(seconds) { return uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"); }

  var syncing = false;
  function syncRange(u, key) {
    if (key !== "x" || syncing) return;
    syncing = true;
    charts.forEach(function (other) {
      if (other !== u) other.setScale("x", { min: u.scales.x.min, max: u.scales.x.max });
    });
    syncing = false;
  }

  function shadeDrawdowns(u) {
    var ctx = u.ctx, box = u.bbox;
    ctx.save();
    ctx.fillStyle = "rgba(178, 45, 38, 0.07)";
    data.shaded.forEach(function (period) {
      var x0 = Math.max(u.valToPos(period.start, "x", true), box.left);
      var x1 = Math.min(u.valToPos(period.end, "x", true), box.left + box.width);
      if (x1 > x0) ctx.fillRect(x0, box.top, x1 - x0, box.height);
    });
    ctx.restore();
  }

  function markTrades(u) {
    var trades = data.trades;
    if (!trades) return;
    var ctx = u.ctx, box = u.bbox, r = 4 * uPlot.pxRatio;
    var lo = u.scales.x.min, hi = u.scales.x.max;
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.left, box.top, box.width, box.height);
    ctx.clip();
    ctx.lineWidth = uPlot.pxRatio;
    for (var i = 0; i < trades.entry_t.length; i++) {
      var entry = trades.entry_t[i], exit = trades.exit_t[i];
      if (entry <= hi && entry >= lo && trades.entry_equity[i] != null) {
        var x = u.valToPos(entry, "x", true), y = u.valToPos(trades.entry_equity[i], "y", true);
        var up = trades.long[i];
        ctx.beginPath();
        ctx.moveTo(x, up ? y - r : y + r);
        ctx.lineTo(x - r, up ? y + r * 0.8 : y - r * 0.8);
        ctx.lineTo(x + r, up ? y + r * 0.8 : y - r * 0.8);
        ctx.closePath();
        ctx.fillStyle = up ? "#1a7a46" : "#b22d26";
        ctx.fill();
      }
      if (exit <= hi && exit >= lo && trades.exit_equity[i] != null) {
        ctx.beginPath();
        ctx.arc(u.valToPos(exit, "x", true), u.valToPos(trades.exit_equity[i], "y", true), r * 0.7, 0, 2 * Math.PI);
        ctx.strokeStyle = "#4b5663";
        ctx.stroke();
      }
    }
    ctx.restore();
  }

  function panWithShift() {
    return { hooks: { ready: function (u) {
      u.root.addEventListener("mousedown", function (e) {
        if (!e.shiftKey || e.button !== 0 || !u.over.contains(e.target)) return;
        e.preventDefault();
        e.stopPropagation();
        var x0 = e.clientX, min = u.scales.x.min, max = u.scales.x.max;
        var perPixel = (max - min) / u.over.clientWidth;
        function move(ev) {
          var shift = (x0 - ev.clientX) * perPixel;
          shift = Math.min(Math.max(shift, first - min), last - max);
          u.setScale("x", { min: min + shift, max: max + shift });
        }
        function up() {
          document.removeEventListener("mousemove", move);
          document.removeEventListener("mouseup", up);
        }
        document.addEventListener("mousemove", move);
        document.addEventListener("mouseup", up);
      }, true);
    } } };
  }

  function options(element, height, series, axis, extra) {
    var opts = {
      width: element.clientWidth,
      height: height,
      tzDate: utc,
      series: [{ label: "time", value: function (u, v) { return v == null ? "—" : timeText(v); } }].concat(series),
      scales: { x: { time: true } },
      axes: [
        { stroke: "#5d6b7a", grid: { stroke: "#eef1f5" }, ticks: { stroke: "#d9dfe6" } },
        { stroke: "#5d6b7a", grid: { stroke: "#eef1f5" }, ticks: { stroke: "#d9dfe6" }, size: 64, values: axis },
      ],
      cursor: { sync: { key: "tearsheet" }, drag: { x: true, y: false, setScale: true }, points: { size: 7 } },
      hooks: { setScale: [syncRange], drawClear: [shadeDrawdowns], draw: extra.draw || [] },
      plugins: [panWithShift()],
    };
    if (extra.yRange) opts.scales.y = { range: extra.yRange };
    return opts;
  }

  function draw(id, height, series, columns, axis, extra) {
    var element = document.getElementById(id);
    var chart = new uPlot(options(element, height, series, axis, extra), [t].concat(columns), element);
    chart.container = element;
    charts.push(chart);
    return chart;
  }

  var equitySeries = [{ label: data.strategy_label || "Strategy", stroke: "#1f5496", width: 1.6, value: moneyText }];
  var equityColumns = [curve.equity];
  if (curve.in_sample) {
    equitySeries.push({ label: "In sample (grid optimised on these bars)", stroke: "#c07a14", width: 1.2, value: moneyText });
    equityColumns.push(curve.in_sample);
  }
  if (curve.buy_and_hold) {
    equitySeries.push({ label: data.benchmark_label, stroke: "#8a96a3", width: 1.2, dash: [5, 4], value: moneyText });
    equityColumns.push(curve.buy_and_hold);
  }
  var equity = draw("equity-chart", 340, equitySeries, equityColumns,
    function (u, values) { return values.map(function (v) { return compact.format(v); }); },
    { draw: [markTrades] });

  var drawdown = draw("drawdown-chart", 150,
    [{ label: "Drawdown", stroke: "#b22d26", width: 1.2, fill: "rgba(178, 45, 38, 0.18)", value: pctText }],
    [curve.drawdown],
    function (u, values) { return values.map(function (v) { return (100 * v).toFixed(0) + " %"; }); },
    { yRange: function (u, min) { return [Math.min(min, -0.001) * 1.05, 0]; } });

  document.getElementById("reset-zoom").addEventListener("click", function () {
    charts.forEach(function (chart) { chart.setScale("x", { min: first, max: last }); });
  });
  var resizing = 0;
  window.addEventListener("resize", function () {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(function () {
      charts.forEach(function (chart) {
        chart.setSize({ width: chart.container.clientWidth, height: chart.height });
      });
    });
  });
  window.tearsheet = { equity: equity, drawdown: drawdown, data: data };

  /* The trade list's rows, in the formats Python's str.format gave them: "{:,}" counts,
     "{:,.4f}" prices, "{:,.4g}" units, "{:,.2f}" money, "{:.2f} %" returns. toFixed and
     toExponential round the double's exact value, as Python does (Intl rounds its shortest
     decimal text instead). A missing number (NaN or infinite in the run) shows "—". */
  function grouped(text) {
    var dot = text.indexOf(".");
    var whole = dot < 0 ? text : text.slice(0, dot);
    return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (dot < 0 ? "" : text.slice(dot));
  }
  function fixed(v, digits, group) {
    if (v == null) return "—";
    var text = Math.abs(v).toFixed(digits);
    return (v < 0 || Object.is(v, -0) ? "-" : "") + (group ? grouped(text) : text);
  }
  function trimmed(text) {
    return text.indexOf(".") < 0 ? text : text.replace(/0+$/, "").replace(/\.$/, "");
  }
  function general4(v) {
    if (v == null) return "—";
    if (v === 0) return Object.is(v, -0) ? "-0" : "0";
    var sign = v < 0 ? "-" : "", parts = Math.abs(v).toExponential(3).split("e");
    var exp = Number(parts[1]);
    if (exp < -4 || exp >= 4) {
      var digits = String(Math.abs(exp));
      return sign + trimmed(parts[0]) + "e" + (exp < 0 ? "-" : "+") + (digits.length < 2 ? "0" : "") + digits;
    }
    return sign + grouped(trimmed(Math.abs(v).toFixed(3 - exp)));
  }
  function when(seconds, intraday) {
    if (seconds == null) return "";
    var iso = new Date(seconds * 1000).toISOString();
    return intraday ? iso.slice(0, 16).replace("T", " ") : iso.slice(0, 10);
  }
  function cell(row, text, css) {
    var td = document.createElement("td");
    if (css) td.className = css;
    td.textContent = text;
    row.appendChild(td);
  }
  function tradeRows(list) {
    var body = document.getElementById("trade-rows");
    if (!list || !body) return;
    var rows = document.createDocumentFragment();
    for (var i = 0; i < list.symbol.length; i++) {
      if (i === list.head && list.hidden) {
        var gap = document.createElement("tr"), td = document.createElement("td");
        gap.className = "gap";
        td.colSpan = 13;
        td.appendChild(document.createTextNode("… " + list.hidden.toLocaleString("en-US") + " trades not shown"));
        if (list.file) {
          var link = document.createElement("a");
          link.href = list.file;
          link.textContent = "trades.csv";
          td.appendChild(document.createTextNode("; every trade is in "));
          td.appendChild(link);
        }
        td.appendChild(document.createTextNode(" …"));
        gap.appendChild(td);
        rows.appendChild(gap);
      }
      var number = i < list.head ? i + 1 : list.hidden + i + 1;
      var pnl = list.pnl[i], tone = pnl > 0 ? "pos" : "neg";
      var bars = list.bars_held ? list.bars_held[i] : null;
      var row = document.createElement("tr");
      cell(row, number.toLocaleString("en-US"), "num muted");
      cell(row, list.symbol[i] || "");
      cell(row, list.side[i] || "");
      cell(row, when(list.entry_t[i], list.intraday));
      cell(row, fixed(list.entry_price[i], 4, true), "num");
      cell(row, when(list.exit_t[i], list.intraday));
      cell(row, fixed(list.exit_price[i], 4, true), "num");
      cell(row, general4(list.units[i]), "num");
      cell(row, fixed(list.fees[i], 2, true), "num");
      cell(row, fixed(pnl, 2, true), "num " + tone);
      cell(row, list["return"][i] == null ? "—" : fixed(100 * list["return"][i], 2, false) + " %", "num " + tone);
      cell(row, bars == null ? "" : bars.toLocaleString("en-US"), "num");
      cell(row, list.exit_reason[i] || "");
      rows.appendChild(row);
    }
    body.appendChild(rows);
  }

  // Python's round(): a value half-way between two integers goes to the even one.
  function roundHalfEven(x) {
    var r = Math.round(x);
    return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }
  function hex2(n) { return (n < 16 ? "0" : "") + n.toString(16); }
  // colors.signed_color: losses red, gains green, by size against the largest.
  function signedColor(value, largest) {
    if (value == null || !(largest > 0)) return "background:#f6f8fb;color:#1d2733";
    var strength = Math.pow(Math.min(Math.abs(value) / largest, 1), 0.7);
    var pale = [246, 248, 251], ink = value > 0 ? [26, 122, 70] : [178, 45, 38], css = "background:#";
    for (var k = 0; k < 3; k++) css += hex2(roundHalfEven(pale[k] + (ink[k] - pale[k]) * strength));
    return css + ";color:" + (strength > 0.55 ? "#ffffff" : "#1d2733");
  }
  // report_view.signed_pct: "{:+.2f} %", negative zero with its sign.
  function signedPct(value) {
    if (value == null) return "—";
    var x = 100 * value;
    return (x < 0 || Object.is(x, -0) ? "-" : "+") + Math.abs(x).toFixed(2) + " %";
  }
  function heatCell(row, value, largest, cls) {
    var td = document.createElement("td");
    td.className = cls;
    if (value === false) {
      td.setAttribute("style", "");
    } else {
      td.setAttribute("style", signedColor(value, largest));
      td.textContent = signedPct(value);
    }
    row.appendChild(td);
  }

  // The monthly heatmap (monthly_table.monthly_table): a row per year, its months, its return.
  function monthlyRows(table) {
    var body = document.getElementById("monthly-rows");
    if (!table || !body) return;
    var rows = document.createDocumentFragment();
    table.years.forEach(function (year, i) {
      var row = document.createElement("tr"), th = document.createElement("th");
      th.textContent = String(year);
      row.appendChild(th);
      table.months[i].forEach(function (value) { heatCell(row, value, table.largest, "cell"); });
      heatCell(row, table.year[i], table.largest_year, "cell year-col");
      rows.appendChild(row);
    });
    body.appendChild(rows);
  }
})();
