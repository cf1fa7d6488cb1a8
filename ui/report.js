// spanlens report page: draws the model computed by spanlens (src/report/model.rs).
// Every panel ends with data-state="ok" (drawn) or "empty" (a message says why).
(function () {
  'use strict';
  var D = null;
  var charts = {};
  var viewId = 'all';
  var sortState = {};

  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function num(n) { return n == null ? '' : Number(n).toLocaleString('en-US'); }
  function pct(x) { return (x || 0).toFixed(2) + '%'; }
  function us(v) {
    if (v == null) return '';
    if (v >= 1e6) return (v / 1e6).toFixed(2) + ' s';
    if (v >= 1e3) return (v / 1e3).toFixed(2) + ' ms';
    return v + ' µs';
  }
  function bytes(b) {
    var u = ['B', 'KB', 'MB', 'GB', 'TB'], i = 0;
    b = b || 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + ' ' + u[i];
  }
  function panel(name) { return document.querySelector('[data-panel="' + name + '"]'); }
  function state(name, ok, msg) {
    var p = panel(name);
    if (!p) return;
    p.setAttribute('data-state', ok ? 'ok' : 'empty');
    var old = p.querySelector('.empty');
    if (old) old.remove();
    if (!ok) {
      var d = document.createElement('div');
      d.className = 'empty';
      d.textContent = msg || 'nothing in this view';
      p.appendChild(d);
    }
  }
  function chart(id, option) {
    var el = $(id);
    if (!charts[id]) charts[id] = echarts.init(el, null, { renderer: 'canvas' });
    charts[id].setOption(option, true);
    return charts[id];
  }
  function clearChart(id) { if (charts[id]) { charts[id].dispose(); delete charts[id]; } }

  // A table: cols = [{h, k (index or fn), cls, fmt}], rows = arrays or objects.
  function table(id, cols, rows, opts) {
    opts = opts || {};
    var st = sortState[id];
    if (st) {
      var c = cols[st.col];
      var key = function (r) { return typeof c.k === 'function' ? c.k(r) : r[c.k]; };
      rows = rows.slice().sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === y) return 0;
        if (x == null) return 1;
        if (y == null) return -1;
        return (x < y ? -1 : 1) * (st.desc ? -1 : 1);
      });
    }
    var h = '<table><thead><tr>' + cols.map(function (c, i) {
      return '<th data-col="' + i + '" class="' + (c.cls || '') + '">' + esc(c.h) +
        (st && st.col === i ? (st.desc ? ' ▼' : ' ▲') : '') + '</th>';
    }).join('') + '</tr></thead><tbody>';
    rows.forEach(function (r, ri) {
      var attrs = opts.attrs ? opts.attrs(r) : '';
      h += '<tr data-row="' + ri + '" ' + attrs + (opts.click ? ' class="click"' : '') + '>' + cols.map(function (c) {
        var v = typeof c.k === 'function' ? c.k(r) : r[c.k];
        return '<td class="' + (c.cls || '') + '">' + (c.fmt ? c.fmt(v, r) : esc(v)) + '</td>';
      }).join('') + '</tr>';
    });
    h += '</tbody></table>';
    var el = $(id);
    el.innerHTML = h;
    el.querySelectorAll('th').forEach(function (th) {
      th.addEventListener('click', function () {
        var col = +th.getAttribute('data-col');
        var cur = sortState[id];
        sortState[id] = { col: col, desc: cur && cur.col === col ? !cur.desc : true };
        table(id, cols, rows, opts);
      });
    });
    if (opts.click) {
      el.querySelectorAll('tbody tr').forEach(function (tr) {
        tr.addEventListener('click', function () { opts.click(rows[+tr.getAttribute('data-row')]); });
      });
    }
    return rows.length > 0;
  }

  // Few intervals (a short capture): draw the points, a line alone would not show.
  function few() { return D.meta.t.length < 30; }
  function times() { return D.meta.t.map(function (t) { return new Date(t).toISOString().substr(11, 8); }); }
  function timeAxis() { return { type: 'category', data: times(), boundaryGap: false }; }
  function base(extra) {
    var o = { animation: false, grid: { left: 60, right: 20, top: 30, bottom: 30 },
      tooltip: { trigger: 'axis' }, legend: { top: 0 } };
    for (var k in extra) o[k] = extra[k];
    return o;
  }
  function pie(id, rows, name) {
    var data = rows.map(function (r) { return { name: String(r[0]), value: r[1] }; });
    chart(id, { animation: false, tooltip: { trigger: 'item' },
      series: [{ type: 'pie', name: name, radius: ['35%', '70%'], data: data, label: { formatter: '{b}: {c}' } }] });
    return data.length > 0;
  }

  function drawOverview(v) {
    var t = v.totals;
    $('view-title').textContent = 'Overview: ' + v.title;
    var k = [
      ['requests', 'transactions', num(t.requests)],
      ['errors', 'errors', num(t.errors)],
      ['error_pct', 'error rate', pct(t.error_pct)],
      ['rps', 'requests/s', (t.rps || 0).toFixed(2)],
      ['p50', 'p50', us(t.latency.p50)],
      ['p95', 'p95', us(t.latency.p95)],
      ['p99', 'p99', us(t.latency.p99)],
      ['server_p95', 'server time p95', us(t.server_time.p95)],
      ['network_p95', 'network time p95', us(t.network_time.p95)],
      ['bytes', 'bytes', bytes(t.bytes_in + t.bytes_out)]
    ];
    var raw = { requests: t.requests, errors: t.errors, p50: t.latency.p50, p95: t.latency.p95, p99: t.latency.p99 };
    $('kpis').innerHTML = k.map(function (x) {
      return '<div class="kpi" id="kpi-' + x[0] + '" data-value="' + (raw[x[0]] != null ? raw[x[0]] : '') + '"><b>' + x[2] + '</b><span>' + x[1] + '</span></div>';
    }).join('');
    state('kpis', true);
    var s = v.series;
    chart('c-requests', base({ xAxis: timeAxis(), yAxis: { type: 'value' },
      series: [{ name: 'requests', type: 'line', data: s.requests, showSymbol: few(), areaStyle: { opacity: 0.15 } },
        { name: 'errors', type: 'line', data: s.errors, showSymbol: few(), color: '#d6453d' }] }));
    state('requests', t.requests > 0, 'no transactions in this view');
    chart('c-bytes', base({ xAxis: timeAxis(), yAxis: { type: 'value', axisLabel: { formatter: bytes } },
      series: [{ name: 'client to server', type: 'line', data: s.bytes_in, showSymbol: few() },
        { name: 'server to client', type: 'line', data: s.bytes_out, showSymbol: few() }] }));
    state('bytes', s.bytes_in.some(Boolean) || s.bytes_out.some(Boolean), 'no bytes in this view');
    chart('c-latency', base({ xAxis: timeAxis(), yAxis: { type: 'log', axisLabel: { formatter: us } },
      tooltip: { trigger: 'axis', valueFormatter: us },
      series: ['p50', 'p95', 'p99'].map(function (p) { return { name: p, type: 'line', data: s[p], showSymbol: few(), connectNulls: true }; }) }));
    state('latency', t.latency.n > 0, 'no latencies in this view');
    var heatMax = v.heat.data.reduce(function (m, d) { return Math.max(m, d[2]); }, 1);
    chart('c-heat', { animation: false, tooltip: { position: 'top' }, grid: { left: 60, right: 20, top: 10, bottom: 60 },
      xAxis: { type: 'category', data: times() }, yAxis: { type: 'category', data: v.heat.labels },
      visualMap: { min: 0, max: heatMax, calculable: true, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 120 },
      series: [{ type: 'heatmap', data: v.heat.data }] });
    state('heatmap', v.heat.data.length > 0, 'no latencies in this view');
    chart('c-codes', base({ tooltip: { trigger: 'axis' }, xAxis: { type: 'category', data: v.codes.map(function (r) { return r[0]; }) },
      yAxis: { type: 'value' }, series: [{ type: 'bar', name: 'transactions', data: v.codes.map(function (r) {
        return { value: r[1], itemStyle: { color: r[2] > 0 ? '#d6453d' : '#2f6fde' } };
      }) }] }));
    table('t-codes', [{ h: 'code', k: 0 }, { h: 'transactions', k: 1, cls: 'num', fmt: num }, { h: 'errors', k: 2, cls: 'num', fmt: num }],
      v.codes, { attrs: function (r) { return 'data-code="' + esc(r[0]) + '" data-n="' + r[1] + '" data-errors="' + r[2] + '"'; } });
    state('codes', v.codes.length > 0, 'no status or error codes in this view');
    state('content_types', pie('c-ctypes', v.content_types, 'content type'), 'no content types (HTTP responses) in this view');
    state('types', pie('c-types', v.types, 'type'), 'no transactions in this view');
    chart('c-split', base({ tooltip: { trigger: 'axis', valueFormatter: us }, xAxis: { type: 'category', data: ['p50', 'p95', 'p99'] },
      yAxis: { type: 'value', axisLabel: { formatter: us } },
      series: [{ name: 'server time', type: 'bar', data: [t.server_time.p50, t.server_time.p95, t.server_time.p99] },
        { name: 'network time', type: 'bar', data: [t.network_time.p50, t.network_time.p95, t.network_time.p99] },
        { name: 'total', type: 'bar', data: [t.latency.p50, t.latency.p95, t.latency.p99] }] }));
    state('split', t.server_time.n > 0 || t.network_time.n > 0, 'no server/network split (no handshake seen)');
    $('slow-event').hidden = true;
    var okSlow = table('t-slowest', [{ h: 'duration', k: 'us', cls: 'num', fmt: us }, { h: 'type', k: 'proto' },
      { h: 'server', k: 'server' }, { h: 'what', k: 'what', cls: 'txt' },
      { h: 'status', k: function (r) { return r.event && r.event.status; } },
      { h: 'time', k: function (r) { return r.event && r.event['@timestamp']; } }], v.slowest, {
      click: function (r) { var p = $('slow-event'); p.hidden = false; p.textContent = JSON.stringify(r.event, null, 2); }
    });
    state('slowest', okSlow, 'no transactions in this view');
    drawMap(v);
    var okC = table('t-clients', [{ h: 'client', k: 0 }, { h: 'where', k: 1 }, { h: 'requests', k: 2, cls: 'num', fmt: num },
      { h: 'errors', k: 3, cls: 'num', fmt: num }], v.clients);
    state('clients', okC, 'no clients in this view');
    var okK = table('t-countries', [{ h: 'country', k: 0 }, { h: 'requests', k: 1, cls: 'num', fmt: num },
      { h: 'errors', k: 2, cls: 'num', fmt: num }], v.countries);
    state('countries', okK, 'no clients in this view');
    state('browsers', pie('c-browsers', v.browsers, 'browser'), 'no user agents (HTTP) in this view');
    state('os', pie('c-os', v.os, 'OS'), 'no user agents (HTTP) in this view');
  }

  function drawMap(v) {
    var note = $('map-note');
    if (!window.__worldRegistered) {
      var geo = topojson.feature(window.WORLD, window.WORLD.objects.countries);
      echarts.registerMap('world', geo);
      window.__worldRegistered = true;
    }
    var pts = v.places.map(function (p) { return { value: [p[0], p[1], p[2]] }; });
    var max = pts.reduce(function (m, p) { return Math.max(m, p.value[2]); }, 1);
    chart('c-map', { animation: false, tooltip: { trigger: 'item', formatter: function (p) { return p.value ? p.value[1] + ', ' + p.value[0] + ': ' + p.value[2] + ' requests' : p.name; } },
      geo: { map: 'world', roam: true, itemStyle: { areaColor: '#e6e9ef', borderColor: '#9aa3b5' }, emphasis: { disabled: true } },
      series: [{ type: 'scatter', coordinateSystem: 'geo', data: pts,
        symbolSize: function (val) { return 6 + 24 * Math.sqrt(val[2] / max); }, itemStyle: { color: '#d6453d', opacity: 0.7 } }] });
    if (!D.meta.geoip) {
      note.innerHTML = 'No GeoIP database: clients are shown as <b>private</b> or <b>unknown</b>. Add <code>[geoip] database = "/path/GeoLite2-City.mmdb"</code> (a MaxMind-format City or Country database, e.g. GeoLite2 or DB-IP Lite) to the config to place clients on the map.';
    } else if (!pts.length) {
      note.textContent = 'No client in this view has a location (private addresses, or a Country database without coordinates).';
    } else {
      note.textContent = pts.length + ' locations.';
    }
    state('map', true);
  }

  function drawServers() {
    var cols = [
      { h: 'server', k: 'server' }, { h: 'group', k: 'group' }, { h: 'protocol', k: 'proto' },
      { h: 'requests', k: 'requests', cls: 'num', fmt: num }, { h: 'req/s', k: 'rps', cls: 'num', fmt: function (x) { return (x || 0).toFixed(2); } },
      { h: 'error %', k: 'error_pct', cls: 'num', fmt: pct },
      { h: 'p50', k: 'p50', cls: 'num', fmt: us }, { h: 'p95', k: 'p95', cls: 'num', fmt: us }, { h: 'p99', k: 'p99', cls: 'num', fmt: us },
      { h: 'server p95', k: 'server_p95', cls: 'num', fmt: us }, { h: 'network p95', k: 'network_p95', cls: 'num', fmt: us },
      { h: 'flows', k: 'flows', cls: 'num', fmt: num }, { h: 'retrans %', k: 'retrans_pct', cls: 'num', fmt: pct },
      { h: 'resets', k: 'resets', cls: 'num', fmt: num }, { h: 'RTT p95', k: 'rtt_p95', cls: 'num', fmt: us },
      { h: 'bytes', k: 'bytes', cls: 'num', fmt: bytes }
    ];
    if (!sortState['t-servers']) sortState['t-servers'] = { col: 3, desc: true };
    var ok = table('t-servers', cols, D.servers, {
      attrs: function (r) { return 'data-id="' + esc(r.id) + '" data-requests="' + r.requests + '" data-p95="' + r.p95 + '" data-errors="' + r.errors + '"'; },
      click: function (r) { if (D.views[r.id]) { location.hash = 'view=' + encodeURIComponent(r.id); } }
    });
    state('servers', ok, 'no servers seen');
  }

  // Protocol tabs: one per protocol with transactions in the view, each with
  // the same generic panels; HTTP, MySQL and Redis add panels of their own.
  var PROTO = {
    http: ['HTTP', 'Methods', 'Top URLs', 'URL', 'Status codes'],
    mysql: ['MySQL', 'Statements', 'Most frequent queries', 'query', 'Error codes'],
    redis: ['Redis', 'Commands', 'Top keys', 'key', 'Error codes'],
    pgsql: ['PostgreSQL', 'Statements', 'Most frequent queries', 'query', 'Error codes (SQLSTATE)'],
    dns: ['DNS', 'Query types', 'Top names', 'name', 'Response codes'],
    icmp: ['ICMP', 'Requests', 'Top destinations', 'destination', 'Responses'],
    tls: ['TLS', 'Versions', 'Top server names (SNI)', 'server name', 'Alerts and errors'],
    memcache: ['Memcache', 'Commands', 'Top keys', 'key', 'Response status'],
    mongodb: ['MongoDB', 'Methods', 'Top collections', 'collection', 'Error codes'],
    amqp: ['AMQP', 'Methods', 'Top queues and exchanges', 'queue or exchange', 'Reply codes'],
    cassandra: ['Cassandra', 'Operations', 'Most frequent queries', 'query', 'Error codes'],
    thrift: ['Thrift', 'Methods', 'Top calls', 'method', 'Exceptions'],
    nfs: ['NFS', 'Operations', 'Top operations', 'operation', 'Status'],
    sip: ['SIP', 'Methods', 'Top request URIs', 'URI', 'Status codes'],
    dhcpv4: ['DHCPv4', 'Message types', 'Top clients', 'client MAC', 'Reply types']
  };
  function protoInfo(name) {
    var i = PROTO[name] || [name.toUpperCase(), 'Methods', 'Top resources', 'resource', 'Status and error codes'];
    return { title: i[0], method: i[1], resource: i[2], rcol: i[3], codes: i[4] };
  }
  function pid(name) { return String(name).replace(/[^a-z0-9]/gi, '_'); }
  var SPECIAL = {
    http: function (id) {
      return '<div class="panel wide" data-panel="http_codes"><h3>Status codes over time</h3><div class="chart" id="c-http-codes"></div></div>';
    },
    mysql: function (id) {
      return '<div class="panel" data-panel="mysql_rw"><h3>Reads vs writes</h3><div class="chart" id="c-mysql-rw"></div></div>' +
        '<div class="panel wide" data-panel="mysql_slow"><h3>Slowest queries by p95</h3><div id="t-mysql-slow"></div></div>';
    }
  };
  var protoSig = null;

  function protoSection(p) {
    var i = protoInfo(p.name), id = pid(p.name), k = 'p_' + id + '_', c = 'c-p-' + id + '-', t = 't-p-' + id + '-';
    return '<section class="proto" id="proto-' + id + '" data-proto="' + esc(p.name) + '"><h2>' + esc(i.title) + '<small id="' + t + 'sum"></small></h2><div class="grid">' +
      '<div class="panel" data-panel="' + k + 'requests"><h3>Transactions and errors per interval</h3><div class="chart" id="' + c + 'requests"></div></div>' +
      '<div class="panel" data-panel="' + k + 'latency"><h3>Latency percentiles (event.duration)</h3><div class="chart" id="' + c + 'latency"></div></div>' +
      '<div class="panel" data-panel="' + k + 'methods"><h3>' + esc(i.method) + ': count and p95</h3><div class="chart" id="' + c + 'methods"></div><div id="' + t + 'methods"></div></div>' +
      '<div class="panel" data-panel="' + k + 'codes"><h3>' + esc(i.codes) + '</h3><div id="' + t + 'codes"></div></div>' +
      '<div class="panel wide" data-panel="' + k + 'top"><h3>' + esc(i.resource) + ' (error share, p95)</h3><div id="' + t + 'top"></div></div>' +
      (SPECIAL[p.name] ? SPECIAL[p.name](id) : '') +
      '<div class="panel wide" data-panel="' + k + 'slowest"><h3>Slowest ' + esc(i.title) + ' transactions (click for the whole event)</h3><div id="' + t + 'slowest"></div><pre class="event" id="' + t + 'event" hidden></pre></div>' +
      '</div></section>';
  }

  // Rebuilds the tabs and sections when the protocols of the view change.
  function layoutProtocols(v) {
    var ps = v.protocols || [];
    var sig = viewId + '|' + ps.map(function (p) { return p.name; }).join(',');
    var tabs = $('proto-tabs');
    tabs.innerHTML = ps.map(function (p) {
      return '<a class="tab' + (p.errors > 0 ? ' has-errors' : '') + '" href="#proto-' + pid(p.name) + '" data-go="proto-' + pid(p.name) +
        '" data-tab="' + esc(p.name) + '" data-requests="' + p.requests + '" data-errors="' + p.errors + '" title="' +
        num(p.requests) + ' transactions, ' + num(p.errors) + ' errors">' + esc(protoInfo(p.name).title) + '<small>' + num(p.requests) + '</small></a>';
    }).join('');
    if (sig === protoSig) return;
    protoSig = sig;
    Object.keys(charts).forEach(function (id) {
      if (/^c-p-/.test(id) || id === 'c-http-codes' || id === 'c-mysql-rw') clearChart(id);
    });
    $('protocols').innerHTML = ps.map(protoSection).join('');
  }

  // The intervals a protocol's series spans (one more each side): its
  // charts show those, not the whole report's time.
  function span(series) {
    var n = D.meta.t.length;
    if (!series.length) return [0, Math.max(n - 1, 0)];
    var lo = series[0][0], hi = series[series.length - 1][0];
    return [Math.max(lo - 1, 0), Math.min(hi + 1, n - 1)];
  }
  // A sparse protocol series as one dense column per figure over `sp`.
  function dense(series, col, fill, sp) {
    var out = [];
    for (var i = sp[0]; i <= sp[1]; i++) out.push(fill);
    series.forEach(function (r) { out[r[0] - sp[0]] = r[col]; });
    return out;
  }

  function drawProtocol(v, p) {
    var i = protoInfo(p.name), id = pid(p.name), k = 'p_' + id + '_', c = 'c-p-' + id + '-', t = 't-p-' + id + '-';
    $(t + 'sum').textContent = num(p.requests) + ' transactions · ' + num(p.errors) + ' errors (' + pct(p.error_pct) + ') · p50 ' +
      us(p.latency.p50) + ' · p95 ' + us(p.latency.p95) + ' · p99 ' + us(p.latency.p99);
    var sp = span(p.series), labels = times().slice(sp[0], sp[1] + 1);
    var sparse = p.series.length < 60 || labels.length < 30;
    chart(c + 'requests', base({ xAxis: { type: 'category', data: labels }, yAxis: { type: 'value', minInterval: 1 },
      series: [{ name: 'transactions', type: 'bar', data: dense(p.series, 1, 0, sp), barMinWidth: 2, barMaxWidth: 40 },
        { name: 'errors', type: 'bar', data: dense(p.series, 2, 0, sp), barGap: '-100%', barMinWidth: 2, barMaxWidth: 40, color: '#d6453d' }] }));
    state(k + 'requests', p.requests > 0, 'no transactions');
    chart(c + 'latency', base({ xAxis: { type: 'category', data: labels, boundaryGap: false }, yAxis: { type: 'log', axisLabel: { formatter: us } },
      tooltip: { trigger: 'axis', valueFormatter: us },
      series: ['p50', 'p95', 'p99'].map(function (q, j) {
        return { name: q, type: 'line', data: dense(p.series, 3 + j, null, sp), showSymbol: sparse, connectNulls: true };
      }) }));
    state(k + 'latency', p.latency.n > 0, 'no latencies');
    var m = p.methods;
    chart(c + 'methods', base({ xAxis: { type: 'category', data: m.map(function (x) { return x[0]; }), axisLabel: { rotate: m.length > 6 ? 45 : 0 } },
      yAxis: [{ type: 'value', name: 'count', minInterval: 1 }, { type: 'value', name: 'p95', axisLabel: { formatter: us } }],
      grid: { left: 60, right: 60, top: 30, bottom: m.length > 6 ? 80 : 30 },
      series: [{ name: 'count', type: 'bar', data: m.map(function (x) { return x[1]; }) },
        { name: 'p95', type: 'line', yAxisIndex: 1, tooltip: { valueFormatter: us }, data: m.map(function (x) { return x[4]; }) }] }));
    var mrows = m.slice();
    if (p.methods_none > 0) mrows.push(['(none)', p.methods_none, null, null, null]);
    table(t + 'methods', [{ h: i.method.toLowerCase().replace(/s$/, ''), k: 0 }, { h: 'count', k: 1, cls: 'num', fmt: num },
      { h: 'error %', k: function (r) { return r[2] == null ? null : 100 * r[2] / r[1]; }, cls: 'num', fmt: function (x) { return x == null ? '' : pct(x); } },
      { h: 'p50', k: 3, cls: 'num', fmt: us }, { h: 'p95', k: 4, cls: 'num', fmt: us }], mrows,
      { attrs: function (r) { return r[2] == null ? '' : 'data-pmethod="' + esc(r[0]) + '" data-n="' + r[1] + '" data-errors="' + r[2] + '"'; } });
    state(k + 'methods', mrows.length > 0, 'no transactions');
    var crows = p.codes.slice();
    if (p.codes_none > 0) crows.push(['(no code: OK)', p.codes_none, 0]);
    table(t + 'codes', [{ h: 'code', k: 0 }, { h: 'transactions', k: 1, cls: 'num', fmt: num }, { h: 'errors', k: 2, cls: 'num', fmt: num },
      { h: 'error %', k: function (r) { return 100 * r[2] / r[1]; }, cls: 'num', fmt: pct }], crows,
      { attrs: function (r) { return r === crows[crows.length - 1] && p.codes_none > 0 ? 'data-pcode-none="' + r[1] + '"' : 'data-pcode="' + esc(r[0]) + '" data-n="' + r[1] + '" data-errors="' + r[2] + '"'; } });
    state(k + 'codes', crows.length > 0, 'no transactions');
    state(k + 'top', table(t + 'top', [{ h: i.rcol, k: 0, cls: 'txt' }, { h: 'count', k: 1, cls: 'num', fmt: num },
      { h: 'error %', k: 2, cls: 'num', fmt: pct }, { h: 'p50', k: 3, cls: 'num', fmt: us }, { h: 'p95', k: 4, cls: 'num', fmt: us }], p.top),
      'these ' + i.title + ' events name no ' + i.rcol);
    $(t + 'event').hidden = true;
    state(k + 'slowest', table(t + 'slowest', [{ h: 'duration', k: 'us', cls: 'num', fmt: us }, { h: 'server', k: 'server' },
      { h: 'what', k: 'what', cls: 'txt' }, { h: 'status', k: function (r) { return r.event && r.event.status; } },
      { h: 'time', k: function (r) { return r.event && r.event['@timestamp']; } }], p.slowest || v.slowest, {
      click: function (r) { var e = $(t + 'event'); e.hidden = false; e.textContent = JSON.stringify(r.event, null, 2); }
    }), 'no transactions');
  }

  function drawProtocols(v) {
    layoutProtocols(v);
    (v.protocols || []).forEach(function (p) { drawProtocol(v, p); });
    if (v.http && $('c-http-codes')) {
      var h = v.http, codes = Object.keys(h.code_series);
      chart('c-http-codes', base({ xAxis: timeAxis(), yAxis: { type: 'value' },
        series: codes.map(function (c) { return { name: c, type: 'line', stack: 'codes', areaStyle: {}, showSymbol: few(), data: h.code_series[c] }; }) }));
      state('http_codes', codes.length > 0, 'no HTTP status codes');
    }
    if (v.mysql && $('c-mysql-rw')) {
      var m = v.mysql;
      state('mysql_rw', pie('c-mysql-rw', [['reads', m.reads], ['writes', m.writes], ['other', m.other]].filter(function (r) { return r[1] > 0; }), 'queries'), 'no queries');
      state('mysql_slow', table('t-mysql-slow', [{ h: 'query', k: 0, cls: 'txt' }, { h: 'count', k: 1, cls: 'num', fmt: num }, { h: 'error %', k: 2, cls: 'num', fmt: pct },
        { h: 'p50', k: 3, cls: 'num', fmt: us }, { h: 'p95', k: 4, cls: 'num', fmt: us }], m.slowest), 'no queries');
    }
  }

  function drawNetwork(v) {
    var t = v.tcp;
    var rows = [['final flow reports', num(t.flows)], ['packets', num(t.packets)],
      ['retransmitted segments', num(t.retrans) + ' (' + pct(t.retrans_pct) + ' of packets)'],
      ['out-of-order segments', num(t.ooo) + ' (' + pct(t.ooo_pct) + ')'], ['resets', num(t.resets)],
      ['zero-window segments', num(t.zero_windows)], ['bytes lost (never captured)', bytes(t.lost_bytes)],
      ['SYN unanswered', num(t.syn_unanswered)], ['SYN rejected (RST)', num(t.syn_rejected)],
      ['handshake RTT p50 / p95 / p99', us(t.rtt.p50) + ' / ' + us(t.rtt.p95) + ' / ' + us(t.rtt.p99)]];
    table('t-tcp', [{ h: 'metric', k: 0 }, { h: 'value', k: 1, cls: 'num' }], rows);
    state('tcp', t.flows > 0, 'no final flow reports in this view (flows.enabled = false?)');
    state('talkers', table('t-talkers', [{ h: 'client', k: 0 }, { h: 'bytes', k: 1, cls: 'num', fmt: bytes }, { h: 'flows', k: 2, cls: 'num', fmt: num }], v.talkers),
      'no final flow reports in this view');
  }

  function flat(o, pre, out) {
    for (var k in o) {
      if (o[k] && typeof o[k] === 'object') flat(o[k], pre + k + '.', out); else out.push([pre + k, o[k]]);
    }
    return out;
  }

  function drawSensor() {
    var s = D.sensor;
    if (!s) {
      $('t-sensor').innerHTML = '<div>Built from NDJSON without counters: pass <code>--stats FILE</code> (a <code>--stats-json</code> file of the run) to <code>spanlens report</code>, or use <code>spanlens replay --report</code>.</div>';
      state('sensor', true);
    } else {
      var rows = flat(s, '', []);
      var key = /^(capture|dispatch|pipeline|flows|output|spool|tcp)\./;
      rows = rows.filter(function (r) { return key.test(r[0]) || /drop|lost|fail|evict|spool/.test(r[0]); });
      table('t-sensor', [{ h: 'counter', k: 0 }, { h: 'value', k: 1, cls: 'num', fmt: num }], rows);
      state('sensor', rows.length > 0, 'no counters');
    }
    var b = flat(D.meta.bounds, '', []);
    var cfg = flat(D.meta.config, 'report.', []);
    table('t-bounds', [{ h: 'bound', k: 0 }, { h: 'value', k: 1, cls: 'num', fmt: num }], b.concat(cfg));
    state('bounds', true);
  }

  function drawAll() {
    var sel = $('view');
    var ids = Object.keys(D.views);
    sel.innerHTML = ids.map(function (id) {
      return '<option value="' + esc(id) + '"' + (id === viewId ? ' selected' : '') + '>' + esc(D.views[id].title) + '</option>';
    }).join('');
    if (!D.views[viewId]) viewId = 'all';
    var v = D.views[viewId];
    var first = D.meta.t.length ? new Date(D.meta.t[0]).toISOString().replace('T', ' ').substr(0, 19) : '';
    $('meta').textContent = (window.SPANLENS_LIVE ? 'live, ' : '') + (D.meta.sources || []).join(', ') + ' · from ' + first + ' UTC · ' + D.meta.interval_secs + ' s intervals';
    drawOverview(v);
    drawServers();
    drawProtocols(v);
    drawNetwork(v);
    drawSensor();
    document.body.setAttribute('data-rendered', String(Date.now()));
  }

  // The hash names the view and, optionally, the section to show:
  // #view=ID&tab=dns (a protocol tab) or &tab=network.
  var tabId = null;
  function fromHash() {
    var m = /view=([^&]+)/.exec(location.hash);
    viewId = m ? decodeURIComponent(m[1]) : 'all';
    var t = /tab=([^&]+)/.exec(location.hash);
    tabId = t ? decodeURIComponent(t[1]) : null;
  }
  function showTab() {
    var el = tabId && ($('proto-' + pid(tabId)) || $(tabId));
    if (el) { el.scrollIntoView(); window.scrollBy(0, -document.querySelector('header').offsetHeight); } else { window.scrollTo(0, 0); }
  }

  window.addEventListener('hashchange', function () { fromHash(); if (D) { drawAll(); showTab(); } });
  window.addEventListener('resize', function () { for (var k in charts) charts[k].resize(); });
  document.addEventListener('DOMContentLoaded', function () {
    // Navigation goes to its section and keeps the view.
    document.querySelector('header nav').addEventListener('click', function (e) {
      var a = e.target.closest('a[data-go]');
      if (!a) return;
      e.preventDefault();
      var tab = a.getAttribute('data-tab') || a.getAttribute('data-go');
      var h = 'view=' + encodeURIComponent(viewId) + '&tab=' + encodeURIComponent(tab);
      if (location.hash === '#' + h) showTab(); else location.hash = h;
    });
    $('view').addEventListener('change', function (e) { location.hash = 'view=' + encodeURIComponent(e.target.value); });
    fromHash();
    if (window.SPANLENS_DATA) { D = window.SPANLENS_DATA; drawAll(); if (tabId) showTab(); }
    if (window.SPANLENS_LIVE) {
      var load = function () {
        fetch('data.json', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (d) { D = d; drawAll(); })
          .catch(function (e) { $('meta').textContent = 'live: cannot reach spanlens (' + e + ')'; });
      };
      load();
      setInterval(load, 5000);
    }
  });
})();
