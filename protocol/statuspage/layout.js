// Where the editor draws things. A node's position is its metadata x, y
// (the top left corner of its box), as Flowhub (the-graph) stores it, and
// its box is the size the-graph draws (72 wide), so that a layout made in
// one editor looks the same in the other. Nodes without a position are
// placed by the layered layout below.
'use strict';

export const NODE_W = 72;
export const NODE_MIN_H = 72;
export const PORT_TOP = 24;      // first port row below the box's title
export const PORT_STEP = 16;     // between port rows
export const LABEL_H = 32;       // the two lines of text under a box
const COL_STEP = 144;            // the-graph's spacing: a box and a box's width of gap
const ROW_GAP = 16;
const ORIGIN = 36;

export function nodeHeight(rows) {
  return Math.max(NODE_MIN_H, PORT_TOP + PORT_STEP * rows);
}

// portY is the centre of the i-th of n ports on a side of a box of height h.
export function portY(i, n, h) {
  if (n <= 0) return h / 2;
  const span = h - PORT_TOP - 4;
  return PORT_TOP - 4 + span * (i + 0.5) / n;
}

// MAX_COORD bounds the positions drawn where the metadata puts them: a
// node beyond (x: 1e30, from any client or file) is placed as one without
// a position, instead of shrinking the fitted view to nothing or being
// refused by the SVG renderer.
export const MAX_COORD = 1e6;

export function hasPosition(n) {
  if (!n.metadata) return false;
  const { x, y } = n.metadata;
  return Number.isFinite(x) && Number.isFinite(y) && Math.abs(x) <= MAX_COORD && Math.abs(y) <= MAX_COORD;
}

// layered places nodes in layers by the longest path from a source (edges
// closing a cycle left out), left to right; a layer of more than maxRows
// nodes takes several columns. Within a layer nodes are ordered by the rows
// of their predecessors, to cross fewer edges. height(id) is a box's height.
export function layered(ids, edges, height, origin) {
  const out = new Map(ids.map((id) => [id, []]));
  const preds = new Map(ids.map((id) => [id, []]));
  for (const e of edges) {
    if (out.has(e.src.node) && out.has(e.tgt.node) && e.src.node !== e.tgt.node) {
      out.get(e.src.node).push(e.tgt.node);
      preds.get(e.tgt.node).push(e.src.node);
    }
  }
  const order = topological(ids, out, preds);
  const index = new Map(order.map((id, i) => [id, i]));
  const layer = new Map(order.map((id) => [id, 0]));
  for (const id of order) {
    for (const t of out.get(id)) {
      if (index.get(t) > index.get(id)) layer.set(t, Math.max(layer.get(t), layer.get(id) + 1));
    }
  }
  const layers = [];
  for (const id of ids) (layers[layer.get(id)] = layers[layer.get(id)] || []).push(id);
  const maxRows = Math.max(8, Math.ceil(Math.sqrt(ids.length) * 1.2));
  const row = new Map(), place = new Map();
  let x = origin.x;
  for (const members of layers) {
    if (!members) continue;
    const barycenter = (id, i) => {
      const ps = preds.get(id).filter((p) => row.has(p));
      return ps.length ? ps.reduce((sum, p) => sum + row.get(p), 0) / ps.length : i;
    };
    const sorted = members.map((id, i) => ({ id, i, b: barycenter(id, i) })).sort((a, b) => a.b - b.b || a.i - b.i);
    let y = origin.y;
    sorted.forEach(({ id }, i) => {
      if (i > 0 && i % maxRows === 0) {
        x += COL_STEP;
        y = origin.y;
      }
      row.set(id, i);
      place.set(id, { x, y });
      y += height(id) + LABEL_H + ROW_GAP;
    });
    x += COL_STEP;
  }
  return place;
}

// topological orders ids so that every edge but those closing a cycle
// points forward, starting from the sources.
function topological(ids, out, preds) {
  const visited = new Set(), order = [];
  const visit = (start) => {
    // iterative depth-first search: 200 nodes in a chain are no problem
    const stack = [[start, 0]];
    visited.add(start);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = out.get(top[0])[top[1]++];
      if (next === undefined) {
        order.push(top[0]);
        stack.pop();
      } else if (!visited.has(next)) {
        visited.add(next);
        stack.push([next, 0]);
      }
    }
  };
  const sources = ids.filter((id) => preds.get(id).length === 0);
  for (const id of sources.concat(ids)) if (!visited.has(id)) visit(id);
  return order.reverse();
}

// positions gives every node of a graph a place: its own when it has one;
// the others are laid out among themselves, below what has a place.
export function positions(g, height) {
  const place = new Map();
  const loose = [];
  let maxY = -Infinity, minX = Infinity;
  for (const n of g.nodes.values()) {
    if (hasPosition(n)) {
      place.set(n.id, { x: n.metadata.x, y: n.metadata.y });
      maxY = Math.max(maxY, n.metadata.y + height(n.id) + LABEL_H);
      minX = Math.min(minX, n.metadata.x);
    } else {
      loose.push(n.id);
    }
  }
  if (loose.length) {
    const origin = place.size ? { x: minX, y: maxY + ROW_GAP * 2 } : { x: ORIGIN, y: ORIGIN };
    for (const [id, p] of layered(loose, g.edges.values(), height, origin)) place.set(id, p);
  }
  return place;
}

// freeSpot is the first place at or below (x, y) where a box of height h
// overlaps no placed box.
export function freeSpot(place, height, x, y, h) {
  const overlaps = (px, py) => [...place].some(([id, p]) =>
    px < p.x + NODE_W + 24 && p.x < px + NODE_W + 24 && py < p.y + height(id) + LABEL_H + 8 && p.y < py + h + LABEL_H + 8);
  for (let i = 0; i < 400; i++) {
    const px = x + Math.floor(i / 20) * COL_STEP, py = y + (i % 20) * 24;
    if (!overlaps(px, py)) return { x: Math.round(px), y: Math.round(py) };
  }
  return { x: Math.round(x), y: Math.round(y) };
}
