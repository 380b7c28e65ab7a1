// What the FBP protocol does not carry, from GET /status.json (the secret
// as a Bearer token): the runtime's summary, its graphs, the participants
// and their processes, the state of each node, queue depths and message
// counts, the last errors. Fetched when an event says something changed
// (bursts coalesced) and every 2 seconds while the page is visible.
'use strict';

import { $, el, duration } from './dom.js';
import { edgeKey } from './graph.js';

const REFRESH_MS = 2000;
const EVENT_DELAY_MS = 100;

export class Overview {
  constructor(state, onData, onRefused, onUnreachable) {
    this.state = state;
    this.onData = onData;
    this.onRefused = onRefused;
    this.onUnreachable = onUnreachable;
    this.secret = '';
    this.stopped = true;
    this.fetching = false;
    this.again = false;
    this.timer = null;
    this.counts = new Map(); // graph + edge -> {n, t}: counts of the last refresh, for rates
    setInterval(() => { if (!this.stopped && !document.hidden) this.refresh(); }, REFRESH_MS);
  }

  start(secret) {
    this.secret = secret;
    this.stopped = false;
    this.refresh();
  }

  stop() {
    this.stopped = true;
  }

  soon() {
    if (!this.timer && !this.stopped) this.timer = setTimeout(() => { this.timer = null; this.refresh(); }, EVENT_DELAY_MS);
  }

  async refresh() {
    if (this.fetching) {
      this.again = true;
      return;
    }
    this.fetching = true;
    try {
      const headers = this.secret ? { Authorization: 'Bearer ' + this.secret } : {};
      const res = await fetch('/status.json', { headers, cache: 'no-store' });
      if (res.status === 401) {
        this.onRefused(this.secret ? 'Wrong secret.' : '');
      } else if (res.status === 429) {
        this.onRefused('Too many wrong secrets; try again later.');
      } else if (!res.ok) {
        throw new Error('HTTP ' + res.status);
      } else if (!this.stopped) {
        this.take(await res.json());
      }
    } catch (err) {
      this.onUnreachable('cannot reach the runtime (' + err.message + ')');
    } finally {
      this.fetching = false;
      if (this.again && !this.stopped) {
        this.again = false;
        this.refresh();
      }
    }
  }

  take(d) {
    this.last = d;
    $('summary_label').textContent = d.label || '—';
    $('summary_version').textContent = d.version + ' (FBP protocol ' + d.protocol + ')';
    $('summary_broker').textContent = d.broker + (d.broker_connected ? '' : ' (connection lost; reconnecting)');
    $('summary_uptime').textContent = duration(d.uptime_seconds);
    $('summary_clients').textContent = String(d.clients);
    renderParticipants(d.participants || [], Date.parse(d.now));
    renderErrors(d.errors || []);
    this.graphState(d);
    this.onData(d);
  }

  // graphState takes the open graph's node states, errors and edge
  // figures into the editor's state.
  graphState(d) {
    const st = this.state;
    const g = (d.graphs || []).find((x) => x.id === st.graphID);
    st.nodeStatus = new Map(g ? g.nodes.map((n) => [n.id, n]) : []);
    const errors = new Map();
    for (const e of d.errors || []) if (e.graph === st.graphID && e.node) errors.set(e.node, e.message);
    st.nodeErrors = errors;
    const now = performance.now(), next = new Map();
    st.edgeLabels = new Map();
    st.edgeQueue = new Map();
    for (const e of g ? g.edges : []) {
      const key = edgeKey(e.src, e.tgt), lines = [];
      if (e.queue) st.edgeQueue.set(key, e.queue);
      if (e.processed !== undefined) {
        const ck = g.id + '\n' + key, prev = this.counts.get(ck);
        next.set(ck, { n: e.processed, t: now });
        const rate = prev && e.processed >= prev.n && now > prev.t ? (e.processed - prev.n) * 1000 / (now - prev.t) : 0;
        if (rate > 0) lines.push(rate.toFixed(1) + ' msg/s');
      }
      // Only what is worth a look: figures of zero would cover the picture.
      if (e.depth && e.depth.ready > 0) lines.push(e.depth.ready + ' ready, ' + e.depth.consumers + (e.depth.consumers === 1 ? ' consumer' : ' consumers'));
      if (lines.length) st.edgeLabels.set(key, lines);
    }
    this.counts = next;
  }
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
