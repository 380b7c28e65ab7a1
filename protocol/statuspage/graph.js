// The editor's model of one graph: what component:getsource gives (the
// JSON graph format of NoFlo, fbp-graph, Flowhub and msgflo) kept up to
// date by the graph protocol's events, every client's edits alike. The
// model is only ever changed by what the runtime says happened; the editor's
// own edits come back as those events too.
'use strict';

import { Raw, parse } from './rawjson.js';

// endpoint is a port reference {node, port, index?} as the protocol has it.
function endpoint(e) {
  const out = { node: String(e.node), port: String(e.port) };
  if (e.index !== undefined && e.index !== null) out.index = e.index;
  return out;
}

export function portName(e) {
  return e.node + '.' + e.port + (e.index !== undefined ? '[' + e.index + ']' : '');
}

// edgeKey names an edge as the page's data-edge hooks do: "a.out->b.in".
export function edgeKey(src, tgt) {
  return portName(src) + '->' + portName(tgt);
}

function samePort(a, b) {
  return a.node === b.node && a.port.toLowerCase() === b.port.toLowerCase() && (a.index ?? null) === (b.index ?? null);
}

// copy is a deep copy that keeps packets' text (Raw) as it is.
function copy(v) {
  if (v === undefined || v === null || typeof v !== 'object' || v instanceof Raw) return v;
  if (Array.isArray(v)) return v.map(copy);
  const out = {};
  for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: copy(x), enumerable: true, writable: true, configurable: true });
  return out;
}

// iipData picks the initial packets of the JSON graph format.
const iipData = (path) => path.length === 3 && path[0] === 'connections' && path[2] === 'data';

export class Graph {
  constructor(id) {
    this.id = id;
    this.properties = {};
    this.nodes = new Map();    // id -> {id, component, metadata}
    this.edges = new Map();    // edgeKey -> {src, tgt, metadata}
    this.iips = [];            // {tgt, data, metadata}
    this.inports = new Map();  // public -> {node, port, metadata}
    this.outports = new Map();
    this.groups = [];          // {name, nodes, metadata}
  }

  // fromJSON reads the JSON graph format (text, or parsed); it throws on
  // what is not one.
  static fromJSON(id, text) {
    const src = typeof text === 'string' ? parse(text, iipData) : text;
    if (!src || typeof src !== 'object' || Array.isArray(src)) throw new Error('a graph is a JSON object');
    const g = new Graph(id);
    g.properties = src.properties && typeof src.properties === 'object' ? copy(src.properties) : {};
    for (const [nid, p] of Object.entries(src.processes || {})) {
      if (!p || typeof p.component !== 'string') throw new Error('process ' + nid + ' has no component');
      g.nodes.set(nid, { id: nid, component: p.component, metadata: copy(p.metadata) || {} });
    }
    const ref = (e, what) => {
      if (!e || typeof e.process !== 'string' || typeof e.port !== 'string') throw new Error(what + ' of a connection is not {process, port}');
      return endpoint({ node: e.process, port: e.port, index: e.index });
    };
    for (const c of src.connections || []) {
      if (c && 'data' in c && !c.src) {
        g.iips.push({ tgt: ref(c.tgt, 'target'), data: copy(c.data), metadata: copy(c.metadata) || {} });
      } else {
        const s = ref(c && c.src, 'source'), t = ref(c && c.tgt, 'target');
        g.edges.set(edgeKey(s, t), { src: s, tgt: t, metadata: copy(c.metadata) || {} });
      }
    }
    for (const [kind, map] of [['inports', g.inports], ['outports', g.outports]]) {
      for (const [pub, x] of Object.entries(src[kind] || {})) {
        if (!x || typeof x.process !== 'string' || typeof x.port !== 'string') throw new Error(kind + ' ' + pub + ' is not {process, port}');
        map.set(pub, { node: x.process, port: x.port, metadata: copy(x.metadata) || {} });
      }
    }
    for (const grp of src.groups || []) {
      if (grp && typeof grp.name === 'string') g.groups.push({ name: grp.name, nodes: (grp.nodes || []).map(String), metadata: copy(grp.metadata) || {} });
    }
    return g;
  }

  // toJSON writes the JSON graph format (what getsource gives).
  toJSON() {
    const meta = (m) => (m && Object.keys(m).length ? { metadata: copy(m) } : {});
    const ref = (e) => Object.assign({ process: e.node, port: e.port }, e.index !== undefined ? { index: e.index } : {});
    const exports = (map) => Object.fromEntries([...map].map(([pub, x]) => [pub, Object.assign({ process: x.node, port: x.port }, meta(x.metadata))]));
    return {
      caseSensitive: false,
      properties: Object.assign({ name: this.id }, copy(this.properties)),
      inports: exports(this.inports),
      outports: exports(this.outports),
      groups: this.groups.map((g) => Object.assign({ name: g.name, nodes: g.nodes.slice() }, meta(g.metadata))),
      processes: Object.fromEntries([...this.nodes.values()].map((n) => [n.id, Object.assign({ component: n.component }, meta(n.metadata))])),
      connections: [
        ...[...this.edges.values()].map((e) => Object.assign({ src: ref(e.src), tgt: ref(e.tgt) }, meta(e.metadata))),
        ...this.iips.map((i) => Object.assign({ data: copy(i.data), tgt: ref(i.tgt) }, meta(i.metadata))),
      ],
    };
  }

  // buildMessages are the graph protocol commands that make an empty graph
  // of this id into this graph (after a graph:clear).
  buildMessages(graphID) {
    const out = [];
    const md = (m) => copy(m) || {};
    for (const n of this.nodes.values()) out.push(['addnode', { id: n.id, component: n.component, metadata: md(n.metadata), graph: graphID }]);
    for (const e of this.edges.values()) out.push(['addedge', { src: endpoint(e.src), tgt: endpoint(e.tgt), metadata: md(e.metadata), graph: graphID }]);
    for (const i of this.iips) out.push(['addinitial', { src: { data: copy(i.data) }, tgt: endpoint(i.tgt), metadata: md(i.metadata), graph: graphID }]);
    for (const [pub, x] of this.inports) out.push(['addinport', { public: pub, node: x.node, port: x.port, metadata: md(x.metadata), graph: graphID }]);
    for (const [pub, x] of this.outports) out.push(['addoutport', { public: pub, node: x.node, port: x.port, metadata: md(x.metadata), graph: graphID }]);
    for (const g of this.groups) out.push(['addgroup', { name: g.name, nodes: g.nodes.slice(), metadata: md(g.metadata), graph: graphID }]);
    return out;
  }

  iipsTo(tgt) {
    return this.iips.filter((i) => samePort(i.tgt, tgt));
  }

  edgesOf(nodeID) {
    return [...this.edges.values()].filter((e) => e.src.node === nodeID || e.tgt.node === nodeID);
  }

  exportsOf(nodeID) {
    const pick = (map, kind) => [...map].filter(([, x]) => x.node === nodeID).map(([pub, x]) => ({ kind, public: pub, node: x.node, port: x.port, metadata: x.metadata }));
    return [...pick(this.inports, 'in'), ...pick(this.outports, 'out')];
  }

  // apply changes the model by a graph protocol event; it returns whether
  // the event was about this graph's contents.
  apply(command, p) {
    const fn = APPLY[command];
    if (!fn) return false;
    fn(this, p);
    return true;
  }

  renameNode(from, to) {
    const n = this.nodes.get(from);
    if (!n || this.nodes.has(to)) return;
    const nodes = new Map();
    for (const [id, m] of this.nodes) nodes.set(id === from ? to : id, id === from ? Object.assign(m, { id: to }) : m);
    this.nodes = nodes;
    const edges = new Map();
    for (const e of this.edges.values()) {
      if (e.src.node === from) e.src.node = to;
      if (e.tgt.node === from) e.tgt.node = to;
      edges.set(edgeKey(e.src, e.tgt), e);
    }
    this.edges = edges;
    for (const i of this.iips) if (i.tgt.node === from) i.tgt.node = to;
    for (const x of [...this.inports.values(), ...this.outports.values()]) if (x.node === from) x.node = to;
    for (const g of this.groups) g.nodes = g.nodes.map((id) => (id === from ? to : id));
  }

  removeNode(id) {
    this.nodes.delete(id);
    for (const [k, e] of this.edges) if (e.src.node === id || e.tgt.node === id) this.edges.delete(k);
    this.iips = this.iips.filter((i) => i.tgt.node !== id);
    for (const map of [this.inports, this.outports]) for (const [pub, x] of map) if (x.node === id) map.delete(pub);
  }
}

function renameKey(map, from, to) {
  const v = map.get(from);
  if (!v || map.has(to)) return;
  const entries = [...map].map(([k, x]) => [k === from ? to : k, x]);
  map.clear();
  for (const [k, x] of entries) map.set(k, x);
}

// The acknowledgements of changenode, changeedge and changegroup carry the
// whole metadata after the change (keys set to null are gone from it).
const APPLY = {
  addnode: (g, p) => g.nodes.set(p.id, { id: p.id, component: p.component, metadata: copy(p.metadata) || {} }),
  removenode: (g, p) => g.removeNode(p.id),
  renamenode: (g, p) => g.renameNode(p.from, p.to),
  changenode: (g, p) => {
    const n = g.nodes.get(p.id);
    if (n) n.metadata = copy(p.metadata) || {};
  },
  addedge: (g, p) => {
    const src = endpoint(p.src), tgt = endpoint(p.tgt);
    g.edges.set(edgeKey(src, tgt), { src, tgt, metadata: copy(p.metadata) || {} });
  },
  removeedge: (g, p) => g.edges.delete(edgeKey(endpoint(p.src), endpoint(p.tgt))),
  changeedge: (g, p) => {
    const e = g.edges.get(edgeKey(endpoint(p.src), endpoint(p.tgt)));
    if (e) e.metadata = copy(p.metadata) || {};
  },
  addinitial: (g, p) => g.iips.push({ tgt: endpoint(p.tgt), data: copy(p.src ? p.src.data : null), metadata: copy(p.metadata) || {} }),
  removeinitial: (g, p) => { g.iips = g.iips.filter((i) => !samePort(i.tgt, endpoint(p.tgt))); },
  addinport: (g, p) => g.inports.set(p.public, { node: p.node, port: p.port, metadata: copy(p.metadata) || {} }),
  addoutport: (g, p) => g.outports.set(p.public, { node: p.node, port: p.port, metadata: copy(p.metadata) || {} }),
  removeinport: (g, p) => g.inports.delete(p.public),
  removeoutport: (g, p) => g.outports.delete(p.public),
  renameinport: (g, p) => renameKey(g.inports, p.from, p.to),
  renameoutport: (g, p) => renameKey(g.outports, p.from, p.to),
  addgroup: (g, p) => {
    g.groups = g.groups.filter((x) => x.name !== p.name);
    g.groups.push({ name: p.name, nodes: (p.nodes || []).slice(), metadata: copy(p.metadata) || {} });
  },
  removegroup: (g, p) => { g.groups = g.groups.filter((x) => x.name !== p.name); },
  renamegroup: (g, p) => { for (const x of g.groups) if (x.name === p.from) x.name = p.to; },
  changegroup: (g, p) => { for (const x of g.groups) if (x.name === p.name) x.metadata = copy(p.metadata) || {}; },
};
