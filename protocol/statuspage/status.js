// The runtime's status page. It draws each graph as SVG (layers left to
// right by longest path) and lists the participants and the last errors.
// The data comes from GET /status.json, which needs the runtime's secret
// (from the URL fragment #secret=... or the form). The page follows
// changes as an FBP protocol client over the runtime's WebSocket: each
// graph or network event refreshes it, and a slow refresh catches what no
// event announces (queue depths, message rates, last heard).
'use strict';

(function () {
  const REFRESH_MS = 2000;        // slow refresh while the page is visible
  const EVENT_DELAY_MS = 100;     // a burst of events causes one refresh
  const RECONNECT_MAX_MS = 30000; // longest wait before connecting again
  const NODE_W = 160, NODE_H = 44, COL_GAP = 130, ROW_GAP = 24, MAX_ROWS = 25, PAD = 16;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  let secret = secretFromFragment();
  let stopped = true;
  let socket = null;
  let reconnectDelay = 1000;
  let fetching = false, fetchAgain = false, eventTimer = null;
  let counts = new Map(); // edge -> {n, t}: messages processed at the last refresh, for rates
  const sections = new Map(); // graph id -> its <section>

  // The fragment is form-encoded (StatusPageURL: url.QueryEscape, '+'
  // for a space); URLSearchParams decodes it so, and never throws.
  function secretFromFragment() {
    return new URLSearchParams(location.hash.slice(1)).get('secret') || '';
  }

  function askSecret(message) {
    stop();
    $('status').hidden = true;
    $('auth').hidden = false;
    $('auth_error').textContent = message;
    $('secret').focus();
  }

  $('auth').addEventListener('submit', (ev) => {
    ev.preventDefault();
    secret = $('secret').value;
    begin();
  });

  function begin() {
    stopped = false;
    refresh();
    connect();
  }

  function stop() {
    stopped = true;
    if (socket) socket.close();
  }

  async function refresh() {
    if (fetching) {
      fetchAgain = true;
      return;
    }
    fetching = true;
    try {
      const headers = secret ? { Authorization: 'Bearer ' + secret } : {};
      const res = await fetch('/status.json', { headers, cache: 'no-store' });
      if (res.status === 401) {
        askSecret(secret ? 'Wrong secret.' : '');
      } else if (res.status === 429) {
        askSecret('Too many wrong secrets; try again later.');
      } else if (!res.ok) {
        throw new Error('HTTP ' + res.status);
      } else if (!stopped) {
        render(await res.json());
      }
    } catch (err) {
      setConnection(false, 'cannot reach the runtime (' + err.message + ')');
    } finally {
      fetching = false;
      if (fetchAgain && !stopped) {
        fetchAgain = false;
        refresh();
      }
    }
  }

  function onEvent() {
    if (!eventTimer) {
      eventTimer = setTimeout(() => { eventTimer = null; refresh(); }, EVENT_DELAY_MS);
    }
  }

  setInterval(() => { if (!stopped && !document.hidden) refresh(); }, REFRESH_MS);

  // connect opens the FBP protocol connection that tells the page when
  // something changed; it presents the secret like any client.
  function connect() {
    if (socket || stopped) return;
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/', 'noflo');
    socket = ws;
    ws.onopen = () => {
      reconnectDelay = 1000;
      setConnection(true, 'live');
      ws.send(JSON.stringify({ protocol: 'runtime', command: 'getruntime', payload: {}, secret }));
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.protocol === 'graph' || msg.protocol === 'network' || msg.protocol === 'runtime' ||
          (msg.protocol === 'component' && msg.command === 'component')) {
        onEvent();
      }
    };
    ws.onclose = () => {
      socket = null;
      if (stopped) return;
      setConnection(false, 'disconnected; reconnecting');
      setTimeout(() => { connect(); refresh(); }, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, RECONNECT_MAX_MS);
    };
  }

  function setConnection(up, text) {
    $('connection').textContent = text;
    $('connection').className = up ? 'connection' : 'connection down';
  }

  function render(d) {
    $('auth').hidden = true;
    $('status').hidden = false;
    $('summary_label').textContent = d.label || '—';
    $('summary_version').textContent = d.version + ' (FBP protocol ' + d.protocol + ')';
    $('summary_broker').textContent = d.broker + (d.broker_connected ? '' : ' (connection lost; reconnecting)');
    $('summary_uptime').textContent = duration(d.uptime_seconds);
    $('summary_clients').textContent = String(d.clients);
    const flowhub = $('flowhub_url');
    if (secret && !flowhub.dataset.secret) {
      flowhub.href += '&secret=' + encodeURIComponent(secret);
      flowhub.dataset.secret = 'added';
    }
    renderGraphs(d.graphs);
    renderParticipants(d.participants, Date.parse(d.now));
    renderErrors(d.errors);
  }

  function renderGraphs(graphs) {
    const now = performance.now();
    const next = new Map();
    const labelOf = (g, e) => {
      const lines = [];
      if (e.processed !== undefined) {
        const key = g.id + '\n' + edgeName(e);
        const prev = counts.get(key);
        next.set(key, { n: e.processed, t: now });
        if (prev && e.processed >= prev.n && now > prev.t) {
          lines.push(((e.processed - prev.n) * 1000 / (now - prev.t)).toFixed(1) + ' msg/s');
        }
      }
      if (e.depth) {
        lines.push(e.depth.ready + ' ready, ' + e.depth.consumers + (e.depth.consumers === 1 ? ' consumer' : ' consumers'));
      }
      return lines;
    };
    const box = $('graphs');
    const seen = new Set();
    for (const g of graphs) {
      seen.add(g.id);
      let sec = sections.get(g.id);
      if (!sec) {
        sec = el('section', { class: 'graph', 'data-graph': g.id }, el('h2'), svgEl('svg'));
        sections.set(g.id, sec);
      }
      box.append(sec); // in the runtime's order
      sec.firstChild.replaceChildren('Graph ' + g.id + ' ',
        el('span', { class: 'state' }, (g.main ? 'main graph, ' : '') + (g.started ? 'started' : 'stopped') +
          ', ' + g.nodes.length + ' nodes, ' + g.edges.length + ' edges'));
      sec.lastChild.replaceWith(drawGraph(g, labelOf));
    }
    for (const [id, sec] of sections) {
      if (!seen.has(id)) {
        sec.remove();
        sections.delete(id);
      }
    }
    counts = next;
  }

  function edgeName(e) {
    return e.src.node + '.' + e.src.port + '->' + e.tgt.node + '.' + e.tgt.port;
  }

  // layout places the nodes in layers by the longest path from a source
  // (edges that close a cycle are left out), left to right; a layer of
  // more than MAX_ROWS nodes takes several columns. Within a layer, nodes
  // are ordered by the rows of their predecessors, to cross fewer edges.
  function layout(g) {
    const out = new Map(g.nodes.map((n) => [n.id, []]));
    const preds = new Map(g.nodes.map((n) => [n.id, []]));
    for (const e of g.edges) {
      if (out.has(e.src.node) && out.has(e.tgt.node)) {
        out.get(e.src.node).push(e.tgt.node);
        preds.get(e.tgt.node).push(e.src.node);
      }
    }
    const visited = new Set(), order = [];
    const visit = (id) => {
      visited.add(id);
      for (const t of out.get(id)) if (!visited.has(t)) visit(t);
      order.push(id);
    };
    const sources = g.nodes.filter((n) => preds.get(n.id).length === 0);
    for (const n of sources.concat(g.nodes)) if (!visited.has(n.id)) visit(n.id);
    order.reverse(); // every edge but those closing a cycle points forward in this order
    const index = new Map(order.map((id, i) => [id, i]));
    const layer = new Map(order.map((id) => [id, 0]));
    for (const id of order) {
      for (const t of out.get(id)) {
        if (index.get(t) > index.get(id)) layer.set(t, Math.max(layer.get(t), layer.get(id) + 1));
      }
    }
    const layers = [];
    for (const n of g.nodes) (layers[layer.get(n.id)] = layers[layer.get(n.id)] || []).push(n.id);
    const row = new Map(), place = new Map();
    let x = PAD, rows = 1;
    for (const ids of layers) {
      if (!ids) continue;
      const barycenter = (id, i) => {
        const ps = preds.get(id).filter((p) => row.has(p));
        return ps.length ? ps.reduce((sum, p) => sum + row.get(p), 0) / ps.length : i;
      };
      const sorted = ids.map((id, i) => ({ id, i, b: barycenter(id, i) }))
        .sort((a, b) => a.b - b.b || a.i - b.i);
      sorted.forEach(({ id }, i) => {
        const r = i % MAX_ROWS;
        row.set(id, r);
        place.set(id, { x: x + Math.floor(i / MAX_ROWS) * (NODE_W + COL_GAP), y: PAD + r * (NODE_H + ROW_GAP) });
      });
      x += Math.ceil(ids.length / MAX_ROWS) * (NODE_W + COL_GAP);
      rows = Math.max(rows, Math.min(ids.length, MAX_ROWS));
    }
    return { place, width: Math.max(x - COL_GAP + PAD, 2 * PAD), height: 2 * PAD + rows * (NODE_H + ROW_GAP) - ROW_GAP };
  }

  function drawGraph(g, labelOf) {
    const { place, width, height } = layout(g);
    const svg = svgEl('svg', { width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': 'graph ' + g.id });
    const edges = svgEl('g', { class: 'edges' }), nodes = svgEl('g', { class: 'nodes' });
    svg.append(svgEl('defs', {}, svgEl('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' },
      svgEl('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }))));
    for (const e of g.edges) {
      const a = place.get(e.src.node), b = place.get(e.tgt.node);
      if (!a || !b) continue;
      const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
      const bend = Math.max(40, Math.abs(x2 - x1) / 2);
      const edge = svgEl('g', { class: 'edge', 'data-edge': edgeName(e) },
        svgEl('title', {}, edgeName(e) + (e.queue ? '\nqueue ' + e.queue : '')),
        svgEl('path', { 'marker-end': 'url(#arrow)', d: 'M' + x1 + ',' + y1 + ' C' + (x1 + bend) + ',' + y1 + ' ' + (x2 - bend) + ',' + y2 + ' ' + x2 + ',' + y2 }));
      // Up to two lines of what is known, above and below the middle.
      labelOf(g, e).forEach((line, i) => {
        edge.append(svgEl('text', { x: (x1 + x2) / 2, y: (y1 + y2) / 2 + (i ? 13 : -5), 'text-anchor': 'middle' }, line));
      });
      edges.append(edge);
    }
    for (const n of g.nodes) {
      const p = place.get(n.id);
      const inports = n.inports || []; // queue depths (RabbitMQ)
      const node = svgEl('g', { class: 'node', 'data-node': n.id, 'data-state': n.state, transform: 'translate(' + p.x + ',' + p.y + ')' },
        svgEl('title', {}, n.id + ' (' + n.component + ')\nrole ' + n.role + '\n' + n.state +
          inports.map((i) => '\nqueue ' + i.queue + ': ' + i.depth.ready + ' ready, ' + i.depth.consumers + ' consumers').join('')),
        svgEl('rect', { width: NODE_W, height: NODE_H, rx: 6 }),
        svgEl('text', { x: 8, y: 18 }, clip(n.id, 22)),
        svgEl('text', { x: 8, y: 35, class: 'component' }, clip(n.component, 26)));
      // Messages piling up in front of a node, whatever sends them.
      const waiting = inports.filter((i) => i.depth.ready > 0);
      if (waiting.length) {
        node.append(svgEl('text', { x: 2, y: -4, class: 'queue' }, clip(waiting.map((i) => i.port + ': ' + i.depth.ready + ' waiting').join(', '), 30)));
      }
      nodes.append(node);
    }
    svg.append(edges, nodes);
    return svg;
  }

  function renderParticipants(list, now) {
    $('participants').tBodies[0].replaceChildren(...list.map((p) => el('tr', { 'data-role': p.role },
      el('td', {}, p.role),
      el('td', {}, p.component),
      el('td', {}, p.id || '—'),
      el('td', { class: 'state' }, p.state),
      el('td', { title: p.last_heard || '' }, p.last_heard ? duration((now - Date.parse(p.last_heard)) / 1000) + ' ago' : '—'),
      el('td', {}, p.heartbeat ? Number(p.heartbeat.toFixed(1)) + ' s' : '—'),
      el('td', {}, processText(p)))));
  }

  function processText(p) {
    if (p.in_process) return 'in-process';
    if (!p.pid) return p.exit_code !== undefined ? 'could not start' : '—';
    return 'pid ' + p.pid + (p.exit_code !== undefined ? ', exited with code ' + p.exit_code : '');
  }

  function renderErrors(list) {
    $('errors').tBodies[0].replaceChildren(...list.slice().reverse().map((e) => el('tr', {},
      el('td', { title: e.time }, new Date(e.time).toLocaleString()),
      el('td', {}, e.graph || '—'),
      el('td', {}, e.node || '—'),
      el('td', { class: 'message' }, e.message))));
  }

  function duration(seconds) {
    let s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
  }

  function clip(text, n) {
    return text.length > n ? text.slice(0, n - 1) + '…' : text;
  }

  // el and svgEl make elements with attributes and children (text is
  // always set as text, never parsed as markup).
  function el(tag, attrs, ...children) {
    return fill(document.createElement(tag), attrs, children);
  }

  function svgEl(tag, attrs, ...children) {
    return fill(document.createElementNS(SVG_NS, tag), attrs, children);
  }

  function fill(node, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    node.append(...children);
    return node;
  }

  begin();
})();
