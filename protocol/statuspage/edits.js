// The user's edits as graph protocol commands: each function gives the
// commands that make the edit (forward) and those that take it back
// (backward), worked out from the graph model as it is. Messages are
// [command, payload] of the graph protocol; every payload names the graph.
'use strict';

import { edgeKey } from './graph.js';

const ep = (e) => Object.assign({ node: e.node, port: e.port }, e.index !== undefined ? { index: e.index } : {});
const md = (m) => JSON.parse(JSON.stringify(m || {}));

export function addNode(g, id, component, pos) {
  return {
    forward: [['addnode', { id, component, metadata: { x: pos.x, y: pos.y }, graph: g.id }]],
    backward: [['removenode', { id, graph: g.id }]],
  };
}

// restoreNode is what puts a removed node back: the node, then its IIPs
// and exported ports (edges are restored by the caller, once every node
// they join is back).
function restoreNode(g, n) {
  const out = [['addnode', { id: n.id, component: n.component, metadata: md(n.metadata), graph: g.id }]];
  for (const i of g.iips) {
    if (i.tgt.node === n.id) out.push(['addinitial', { src: { data: i.data }, tgt: ep(i.tgt), metadata: md(i.metadata), graph: g.id }]);
  }
  for (const x of g.exportsOf(n.id)) {
    out.push([x.kind === 'in' ? 'addinport' : 'addoutport', { public: x.public, node: x.node, port: x.port, metadata: md(x.metadata), graph: g.id }]);
  }
  return out;
}

// remove takes away nodes (with their edges, IIPs and exported ports) and
// edges.
export function remove(g, nodeIDs, edgeKeys) {
  const nodes = nodeIDs.map((id) => g.nodes.get(id)).filter(Boolean);
  const gone = new Set(nodes.map((n) => n.id));
  const edges = new Map();
  for (const k of edgeKeys) if (g.edges.has(k)) edges.set(k, g.edges.get(k));
  for (const n of nodes) for (const e of g.edgesOf(n.id)) edges.set(edgeKey(e.src, e.tgt), e);
  const forward = [], backward = [];
  for (const e of edges.values()) {
    if (!gone.has(e.src.node) && !gone.has(e.tgt.node)) forward.push(['removeedge', { src: ep(e.src), tgt: ep(e.tgt), graph: g.id }]);
  }
  for (const n of nodes) {
    forward.push(['removenode', { id: n.id, graph: g.id }]);
    backward.push(...restoreNode(g, n));
  }
  for (const e of edges.values()) backward.push(['addedge', { src: ep(e.src), tgt: ep(e.tgt), metadata: md(e.metadata), graph: g.id }]);
  return { forward, backward };
}

// move sets node positions (moves: id -> {x, y}); the way back restores
// the old ones, or takes away a position the node did not have.
export function move(g, moves) {
  const forward = [], backward = [];
  for (const [id, p] of moves) {
    const n = g.nodes.get(id);
    if (!n) continue;
    const old = n.metadata || {};
    if (old.x === p.x && old.y === p.y) continue;
    forward.push(['changenode', { id, metadata: { x: p.x, y: p.y }, graph: g.id }]);
    backward.push(['changenode', { id, metadata: { x: old.x ?? null, y: old.y ?? null }, graph: g.id }]);
  }
  return { forward, backward };
}

export function connect(g, src, tgt) {
  if (g.edges.has(edgeKey(src, tgt))) return { forward: [], backward: [] };
  return {
    forward: [['addedge', { src: ep(src), tgt: ep(tgt), metadata: {}, graph: g.id }]],
    backward: [['removeedge', { src: ep(src), tgt: ep(tgt), graph: g.id }]],
  };
}

export function rename(g, from, to) {
  if (from === to || !g.nodes.has(from)) return { forward: [], backward: [] };
  return {
    forward: [['renamenode', { from, to, graph: g.id }]],
    backward: [['renamenode', { from: to, to: from, graph: g.id }]],
  };
}

// setInitial replaces the initial packets to a port by data (none when
// data is undefined).
export function setInitial(g, tgt, data) {
  const old = g.iipsTo(tgt);
  const forward = [], backward = [];
  if (old.length) forward.push(['removeinitial', { src: { data: old[0].data }, tgt: ep(tgt), graph: g.id }]);
  if (data !== undefined) {
    forward.push(['addinitial', { src: { data }, tgt: ep(tgt), metadata: {}, graph: g.id }]);
    backward.push(['removeinitial', { src: { data }, tgt: ep(tgt), graph: g.id }]);
  }
  for (const i of old) backward.push(['addinitial', { src: { data: i.data }, tgt: ep(i.tgt), metadata: md(i.metadata), graph: g.id }]);
  return { forward, backward };
}

export function exportPort(g, kind, pub, node, port) {
  const map = kind === 'in' ? g.inports : g.outports;
  if (map.has(pub)) return { forward: [], backward: [] };
  return {
    forward: [['add' + kind + 'port', { public: pub, node, port, metadata: {}, graph: g.id }]],
    backward: [['remove' + kind + 'port', { public: pub, graph: g.id }]],
  };
}

export function unexportPort(g, kind, pub) {
  const x = (kind === 'in' ? g.inports : g.outports).get(pub);
  if (!x) return { forward: [], backward: [] };
  return {
    forward: [['remove' + kind + 'port', { public: pub, graph: g.id }]],
    backward: [['add' + kind + 'port', { public: pub, node: x.node, port: x.port, metadata: md(x.metadata), graph: g.id }]],
  };
}

export function renameExport(g, kind, from, to) {
  if (from === to) return { forward: [], backward: [] };
  return {
    forward: [['rename' + kind + 'port', { from, to, graph: g.id }]],
    backward: [['rename' + kind + 'port', { from: to, to: from, graph: g.id }]],
  };
}

// clearMessage empties a graph, keeping its name and whether it is the
// runtime's main graph.
export function clearMessage(g) {
  const p = g.properties || {};
  return ['clear', { id: g.id, name: typeof p.name === 'string' && p.name ? p.name : g.id, main: p.main === true }];
}

// replace makes graph old (the model of graph id) into next: loading a
// file into it. The way back loads the old contents again.
export function replace(old, next) {
  return {
    forward: [clearMessage(old), ...next.buildMessages(old.id)],
    backward: [clearMessage(old), ...old.buildMessages(old.id)],
  };
}
