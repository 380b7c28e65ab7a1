// The editor: one graph of the runtime at a time, edited over the FBP
// protocol only, so it edits exactly what Flowhub and fbp-spec edit. It
// keeps the model (graph.js) in step with the runtime's events, whoever
// made the change, and turns what the user does into graph protocol
// commands (edits.js) that can be undone (history.js).
'use strict';

import { $, download } from './dom.js';
import { Raw, stringify } from './rawjson.js';
import { Graph, edgeKey, portName } from './graph.js';
import * as edits from './edits.js';
import * as fbp from './fbp.js';
import { Canvas } from './canvas.js';
import { CanvasInput } from './canvas-input.js';
import { Palette } from './palette.js';
import { Inspector } from './inspector.js';
import { History } from './history.js';
import { NODE_W, hasPosition, freeSpot, layered } from './layout.js';
import { bindKeys } from './keys.js';
import { bindToolbar, updateToolbar } from './toolbar.js';

const KEPT_PACKETS = 200; // per edge

export class Editor {
  constructor(conn) {
    this.conn = conn;
    this.state = {
      graphID: '', graph: null, loading: '', mainGraph: '', graphs: new Map(), components: new Map(),
      nodeStatus: new Map(), nodeErrors: new Map(), edgeLabels: new Map(), edgeQueue: new Map(),
      selection: new Set(), watched: new Set(), packets: new Map(), output: [], running: null,
      componentsVersion: 0,
    };
    this.history = new History((messages, step) => this.sendGraph(messages, step));
    this.pending = []; // graph commands sent, not yet acknowledged: {command, key, step}
    this.history.onchange = () => this.schedule();
    this.canvas = new Canvas($('canvas'), this.state);
    this.input = new CanvasInput(this.canvas, this);
    this.palette = new Palette($('palette'), this.state, this);
    this.inspector = new Inspector($('inspector'), this.state, this);
    this.afterOpen = null;
    this.selectOnArrival = '';
    this.scheduled = false;
    this.channel = new MessageChannel(); // not throttled in a background tab, unlike timers
    this.channel.port1.onmessage = () => this.drawScheduled();
    // A frame asked for just before the tab was hidden would wait until it
    // is shown again.
    document.addEventListener('visibilitychange', () => {
      if (document.hidden && this.scheduled) this.channel.port2.postMessage(0);
    });
    this.listen();
    bindToolbar(this);
    bindKeys(this);
  }

  // schedule draws once for the messages at hand: at the next frame (a
  // burst of events is drawn once), or, in a hidden tab, where frames and
  // timers are held back, right after them.
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    if (document.hidden) this.channel.port2.postMessage(0);
    else requestAnimationFrame(() => this.drawScheduled());
  }

  drawScheduled() {
    if (this.scheduled) this.draw(); // else drawn already
  }

  draw() {
    this.scheduled = false;
    this.canvas.render();
    this.palette.render();
    this.inspector.render();
    updateToolbar(this);
  }

  say(text, isError) {
    const m = $('message');
    m.textContent = text;
    m.className = isError ? 'message error' : 'message';
  }

  sendGraph(messages, step) {
    let sent = true;
    for (const [command, payload] of messages) {
      if (this.conn.send('graph', command, payload)) {
        this.pending.push({ command, key: ackKey(command, payload), step });
      } else {
        sent = false;
      }
    }
    if (!sent) {
      this.say('Not connected to the runtime: the change was not sent.', true);
      if (step) this.history.drop(step);
    }
  }

  // acknowledged takes a command of this editor off the pending list when
  // the runtime's event for it comes (the runtime answers a client's
  // commands in order: each with its event, to every client, or an error,
  // to it alone).
  acknowledged(command, p) {
    const key = ackKey(command, p);
    const i = this.pending.findIndex((x) => x.command === command && x.key === key);
    if (i >= 0) this.pending.splice(i, 1);
  }

  // refused is a graph:error: the oldest command not acknowledged failed.
  // An edit of one command did not happen, and is forgotten (Ctrl+Z then
  // takes back the edit before it); of a larger one (a delete, a load),
  // what was done stays undoable as recorded.
  refused(message) {
    const failed = this.pending.shift();
    const step = failed && failed.step;
    const single = step && (step.forward.length === 1 || step.backward.length === 1);
    this.say(step && !single ? 'Part of ' + step.label + ' was refused: ' + message : message, true);
    if (single) this.history.drop(step);
    this.canvas.overrides.clear();
    this.schedule();
  }

  // --- what the runtime says ---

  listen() {
    const c = this.conn;
    c.on('runtime:runtime', (p) => this.onRuntime(p));
    c.on('component:component', (p) => {
      this.state.components.set(p.name, p);
      this.state.componentsVersion++;
      this.schedule();
    });
    c.on('component:source', (p) => this.onSource(p));
    c.on('component:error', (p) => {
      if (this.state.loading) {
        this.say('Cannot open graph ' + this.state.loading + ': ' + p.message, true);
        this.state.loading = '';
      }
    });
    c.on('graph:*', (p, msg) => this.onGraphEvent(msg.command, p));
    for (const cmd of ['started', 'stopped', 'status']) {
      c.on('network:' + cmd, (p) => {
        if (p.graph !== this.state.graphID) return;
        this.state.running = !!(p.running || p.started);
        this.schedule();
      });
    }
    c.on('network:data', (p) => this.onData(p));
    c.on('network:error', (p) => this.say((p.graph ? 'Graph ' + p.graph + ': ' : '') + p.message, true));
    c.on('network:processerror', (p) => {
      if (p.graph !== this.state.graphID) return;
      this.state.nodeErrors.set(p.id, p.error);
      this.schedule();
    });
    c.on('runtime:packet', (p) => {
      if (p.graph !== this.state.graphID || p.event !== 'data') return;
      const packet = { port: p.port, data: p.payload, t: Date.now() };
      this.state.output.push(packet);
      if (this.state.output.length > KEPT_PACKETS) this.state.output.shift();
      this.inspector.output(packet);
    });
    c.on('runtime:error', (p) => this.say(p.message, true));
  }

  // onRuntime (the answer to getruntime, after every connect) loads what
  // the editor shows: the components and the open graph.
  onRuntime(p) {
    this.state.mainGraph = p.graph || '';
    if (p.graph && !this.state.graphs.has(p.graph)) this.state.graphs.set(p.graph, { main: true });
    this.state.components.clear();
    this.state.componentsVersion++;
    this.conn.send('component', 'list', {});
    this.openGraph(this.state.graphID || graphFromFragment() || p.graph || [...this.state.graphs.keys()][0] || '');
  }

  openGraph(id, then) {
    const st = this.state;
    if (!id) return;
    if (id !== st.graphID) {
      st.graph = null;
      st.selection.clear();
      st.watched.clear();
      st.packets.clear();
      st.output = [];
      st.running = null;
      st.nodeStatus = new Map();
      st.nodeErrors = new Map();
      st.edgeLabels = new Map();
      this.canvas.fit = true;
      this.canvas.overrides.clear();
    }
    st.graphID = id;
    st.loading = id;
    this.afterOpen = then || null;
    if (!st.graphs.has(id)) st.graphs.set(id, { main: false });
    setFragment('graph', id);
    this.conn.send('component', 'getsource', { name: id });
    this.conn.send('network', 'getstatus', { graph: id });
    this.watch();
    this.schedule();
  }

  onSource(p) {
    const st = this.state;
    const name = (p.library ? p.library + '/' : '') + p.name;
    if (!st.loading || name !== st.loading || p.language !== 'json') return;
    try {
      st.graph = Graph.fromJSON(name, p.code);
    } catch (err) {
      this.say('Graph ' + name + ' cannot be read: ' + err.message, true);
      return;
    } finally {
      st.loading = '';
    }
    this.canvas.overrides.clear();
    this.canvas.fitted = false;
    this.say('');
    const then = this.afterOpen;
    this.afterOpen = null;
    if (then) then(st.graph);
    this.schedule();
  }

  onGraphEvent(command, p) {
    const st = this.state;
    if (command === 'error') {
      this.refused(p.message);
      return;
    }
    this.acknowledged(command, p);
    if (command === 'clear') {
      const known = st.graphs.get(p.id) || {};
      st.graphs.set(p.id, Object.assign(known, { main: !!p.main }));
      if (p.id === st.graphID && !st.loading) {
        st.graph = new Graph(p.id);
        st.graph.properties = { name: p.name || p.id, main: !!p.main };
        this.conn.send('network', 'getstatus', { graph: p.id }); // a cleared graph is a new one, not started
      }
      this.schedule();
      return;
    }
    // Events before the source arrives are in it already.
    if (p.graph !== st.graphID || st.loading || !st.graph) return;
    if (!st.graph.apply(command, p)) return;
    if (command === 'changenode') this.canvas.overrides.delete(p.id);
    if (command === 'addnode' && p.id === this.selectOnArrival) {
      this.selectOnArrival = '';
      this.select(['n:' + p.id]);
    }
    if (command === 'renamenode') this.renamed(p.from, p.to);
    this.schedule();
  }

  // renamed keeps a renamed node selected; its edges have new names.
  renamed(from, to) {
    const sel = this.state.selection;
    if (sel.delete('n:' + from)) sel.add('n:' + to);
    for (const k of [...sel]) if (k.startsWith('e:') && !this.state.graph.edges.has(k.slice(2))) sel.delete(k);
    this.watch();
  }

  onData(p) {
    const st = this.state;
    if (p.graph !== st.graphID || !p.src || !p.tgt) return;
    const key = edgeKey(p.src, p.tgt);
    if (!st.packets.has(key)) st.packets.set(key, []);
    const list = st.packets.get(key);
    const packet = { data: p.data, t: Date.now() };
    list.push(packet);
    if (list.length > KEPT_PACKETS) list.shift();
    this.inspector.packet(key, packet);
  }

  // watch tells the runtime which edges' packets to send: the selected
  // ones (none when none is selected, so that nothing is tapped for the
  // editor alone).
  watch() {
    const st = this.state;
    const edges = [...st.selection].filter((k) => k.startsWith('e:')).map((k) => st.graph && st.graph.edges.get(k.slice(2))).filter(Boolean);
    st.watched = new Set(edges.map((e) => edgeKey(e.src, e.tgt)));
    if (st.graphID) this.conn.send('network', 'edges', { graph: st.graphID, edges: edges.map((e) => ({ src: e.src, tgt: e.tgt })) });
  }

  // --- what the user does (called by the canvas, palette, panel, keys) ---

  select(keys, additive) {
    const sel = this.state.selection;
    if (!additive) sel.clear();
    for (const k of keys) sel.add(k);
    this.input.disarm();
    this.watch();
    this.schedule();
  }

  toggle(key) {
    const sel = this.state.selection;
    if (!sel.delete(key)) sel.add(key);
    this.watch();
    this.schedule();
  }

  status(text) {
    this.say(text);
  }

  portsOf(n) {
    return this.canvas.ports(n);
  }

  perform(label, edit) {
    const g = this.state.graph;
    if (!g || !edit.forward.length) return;
    this.history.perform(g.id, label, edit.forward, edit.backward);
  }

  // pins are the places of the nodes drawn where the layout put them: an
  // edit that places a node writes them too, so nothing else moves.
  pins(except) {
    const out = new Map();
    for (const n of this.state.graph.nodes.values()) {
      if (!hasPosition(n) && !except.has(n.id) && this.canvas.place.has(n.id)) {
        const p = this.canvas.place.get(n.id);
        out.set(n.id, { x: Math.round(p.x), y: Math.round(p.y) });
      }
    }
    return out;
  }

  addComponent(name, drop) {
    const g = this.state.graph;
    if (!g) return;
    let pos;
    if (drop) {
      const p = this.canvas.toGraph(drop.clientX, drop.clientY);
      pos = { x: Math.round(p.x - NODE_W / 2), y: Math.round(p.y - 20) };
    } else {
      const c = this.canvas.visibleCentre();
      pos = freeSpot(this.canvas.place, (id) => this.canvas.height(id), c.x - NODE_W / 2, c.y - 36, 72);
    }
    const id = newNodeID(name, g);
    const pins = this.pins(new Set());
    const add = edits.addNode(g, id, name, pos);
    const pin = edits.move(g, pins);
    this.selectOnArrival = id;
    for (const [pid, p] of pins) this.canvas.overrides.set(pid, p);
    this.perform('add ' + id, { forward: [...pin.forward, ...add.forward], backward: [...add.backward, ...pin.backward] });
    this.say('Added ' + id + ' (' + name + ').');
  }

  moveNodes(moves) {
    const g = this.state.graph;
    const all = this.pins(new Set(moves.keys()));
    for (const [id, p] of moves) all.set(id, p);
    for (const [id, p] of all) this.canvas.overrides.set(id, p);
    this.perform('move', edits.move(g, all));
  }

  connect(src, tgt) {
    const g = this.state.graph;
    if (!g) return;
    this.perform('connect', edits.connect(g, src, tgt));
    this.say('Connected ' + src.node + '.' + src.port + ' to ' + tgt.node + '.' + tgt.port + '.');
  }

  deleteSelection() {
    const st = this.state, g = st.graph;
    if (!g || !st.selection.size) return;
    const nodes = [...st.selection].filter((k) => k.startsWith('n:')).map((k) => k.slice(2));
    const edges = [...st.selection].filter((k) => k.startsWith('e:')).map((k) => k.slice(2));
    st.selection.clear();
    this.watch();
    this.perform('delete', edits.remove(g, nodes, edges));
  }

  rename(from, to) {
    const g = this.state.graph;
    if (to === undefined) {
      this.select(['n:' + from]);
      this.draw();
      const input = $('node_id');
      if (input) input.select();
      return '';
    }
    to = to.trim();
    if (!to) return 'A node needs an id.';
    if (to !== from && g.nodes.has(to)) return 'There is a node ' + to + ' already.';
    this.perform('rename', edits.rename(g, from, to));
    return '';
  }

  setInitial(tgt, text) {
    let data;
    if (text !== undefined) {
      if (!text.trim()) return 'Type a JSON value: a string in quotes ("hello"), a number, an object…';
      try {
        data = new Raw(text);
      } catch (err) {
        return 'Not JSON: ' + err.message;
      }
    }
    this.perform('initial packet', edits.setInitial(this.state.graph, tgt, data));
    return '';
  }

  exportPort(kind, node, port) {
    const g = this.state.graph;
    const map = kind === 'in' ? g.inports : g.outports;
    let pub = port.toLowerCase().replace(/[^a-z0-9_.]/g, '_'), i = 2;
    while (map.has(pub)) pub = port.toLowerCase() + '_' + i++;
    this.perform('export', edits.exportPort(g, kind, pub, node, port));
  }

  unexport(kind, pub) {
    this.perform('unexport', edits.unexportPort(this.state.graph, kind, pub));
  }

  renameExport(kind, from, to) {
    to = to.trim().toLowerCase();
    const map = kind === 'in' ? this.state.graph.inports : this.state.graph.outports;
    if (!/^[a-z_][a-z0-9_.]*$/.test(to)) return 'A port name is letters, digits, _ and ., starting with a letter.';
    if (to !== from && map.has(to)) return 'There is a port ' + to + ' already.';
    this.perform('rename port', edits.renameExport(this.state.graph, kind, from, to));
    return '';
  }

  sendPacket(port, text) {
    let raw;
    try {
      raw = new Raw(text);
    } catch (err) {
      return 'Not JSON: ' + err.message;
    }
    this.conn.send('runtime', 'packet', { port, event: 'data', payload: raw, graph: this.state.graphID });
    this.say('Sent a packet to ' + port + '.');
    return '';
  }

  toggleRunning() {
    const id = this.state.graphID;
    if (id) this.conn.send('network', this.state.running ? 'stop' : 'start', { graph: id });
  }

  undo() {
    const label = this.history.undo(this.state.graphID);
    this.say(label ? 'Undid ' + label + '.' : 'Nothing to undo.');
  }

  redo() {
    const label = this.history.redo(this.state.graphID);
    this.say(label ? 'Redid ' + label + '.' : 'Nothing to redo.');
  }

  autoLayout() {
    const g = this.state.graph;
    if (!g || !g.nodes.size) return;
    const place = layered([...g.nodes.keys()], g.edges.values(), (id) => this.canvas.height(id), { x: 36, y: 36 });
    for (const [id, p] of place) this.canvas.overrides.set(id, p);
    this.canvas.fit = true;
    this.canvas.fitted = false;
    this.perform('auto-layout', edits.move(g, place));
  }

  focusCanvas() {
    const first = this.canvas.nodeLayer.querySelector('.node.selected') || this.canvas.nodeLayer.querySelector('.node');
    (first || this.canvas.svg).focus();
  }

  // --- graphs and files ---

  createGraph(id) {
    id = id.trim();
    if (!id) return 'A graph needs an id.';
    if (this.state.graphs.has(id)) return 'There is a graph ' + id + ' already.';
    this.sendGraph([['clear', { id, name: id, main: false }]]);
    this.state.graphs.set(id, { main: false });
    this.openGraph(id);
    return '';
  }

  downloadAs(kind) {
    const g = this.state.graph;
    if (!g) return;
    const base = g.id.replace(/[^a-zA-Z0-9_.-]+/g, '_');
    if (kind === 'json') {
      download(base + '.json', stringify(g.toJSON(), 2) + '\n', 'application/json');
      return;
    }
    try {
      download(base + '.fbp', fbp.serialize(g), 'text/plain');
    } catch (err) {
      this.say(err.message, true);
    }
  }

  // load reads a .json or .fbp file and makes graph id into it (a new
  // graph, or the contents of one replaced: undo brings them back).
  load(fileName, text, id) {
    let next;
    try {
      const src = /\.fbp$/i.test(fileName) ? fbp.parse(text) : text; // JSON text: Graph.fromJSON keeps packets' text
      next = Graph.fromJSON(id, src);
    } catch (err) {
      return fileName + ': ' + err.message;
    }
    const apply = (old) => {
      this.perform('load ' + fileName, edits.replace(old, next));
      this.say('Loaded ' + fileName + ' into graph ' + id + ' (' + next.nodes.size + ' nodes).');
    };
    if (id === this.state.graphID && this.state.graph) {
      apply(this.state.graph);
    } else if (this.state.graphs.has(id)) {
      this.openGraph(id, apply);
    } else {
      this.sendGraph([['clear', { id, name: id, main: false }]]);
      this.openGraph(id, apply);
    }
    return '';
  }
}

// newNodeID is a node id as Flowhub makes them (the component's name and a
// random suffix), without the library: ids stay names the .fbp language
// and every broker's queue names allow.
function newNodeID(component, g) {
  let short = component.slice(component.lastIndexOf('/') + 1).replace(/[^a-zA-Z0-9_]/g, '_');
  if (!/^[a-zA-Z]/.test(short)) short = 'n' + short;
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(5));
    const id = short + '_' + [...bytes].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
    if (!g.nodes.has(id)) return id;
  }
}

// ackKey is what identifies a graph command's acknowledgement (with its
// command): the node, edge, port or group it is about.
function ackKey(command, p) {
  const ref = (e) => (e ? portName({ node: e.node, port: String(e.port).toLowerCase(), index: e.index ?? undefined }) : '');
  if (/edge$/.test(command)) return p.graph + ' ' + ref(p.src) + '->' + ref(p.tgt);
  if (/initial$/.test(command)) return p.graph + ' ' + ref(p.tgt);
  if (/^rename/.test(command)) return p.graph + ' ' + p.from + '>' + p.to;
  if (/port$/.test(command)) return p.graph + ' ' + p.public;
  if (/group$/.test(command)) return p.graph + ' ' + p.name;
  if (command === 'clear') return p.id;
  return p.graph + ' ' + p.id;
}

function graphFromFragment() {
  return new URLSearchParams(location.hash.slice(1)).get('graph') || '';
}

// setFragment keeps the open graph in the address (with the secret that
// may be there), so that a reload or a shared link opens it again.
function setFragment(key, value) {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get(key) === value) return;
  params.set(key, value);
  history.replaceState(null, '', '#' + params.toString());
}
