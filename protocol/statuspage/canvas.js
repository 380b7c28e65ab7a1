// The canvas: one graph drawn as SVG, with zoom and pan. Nodes are boxes
// with their inports on the left and outports on the right (the component's
// ports, and any port an edge uses), their id and component below, and the
// state of their participant as the box's colour. Edges go from port to
// port; initial packets and the graph's exported ports are drawn at the
// ports they feed. canvas-input.js handles the pointer.
'use strict';

import { svgEl, clip, json } from './dom.js';
import { edgeKey, portName } from './graph.js';
import { NODE_W, LABEL_H, nodeHeight, portY, positions, hasPosition } from './layout.js';

const FIT_PAD = 24;
const MIN_ZOOM = 0.05, MAX_ZOOM = 3;

export class Canvas {
  constructor(section, state) {
    this.section = section;
    this.state = state; // the editor's: graph, components, status, selection, watched
    this.svg = svgEl('svg', { class: 'canvas', role: 'application', 'aria-label': 'graph' });
    this.view = svgEl('g', { class: 'view' });
    this.edgeLayer = svgEl('g', { class: 'edges' });
    this.nodeLayer = svgEl('g', { class: 'nodes' });
    this.overlay = svgEl('g', { class: 'overlay' });
    this.view.append(this.edgeLayer, this.nodeLayer, this.overlay);
    this.svg.append(svgEl('defs', {}, svgEl('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto' },
      svgEl('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }))), this.view);
    section.append(this.svg);
    this.zoom = { k: 1, x: 0, y: 0 };
    this.fit = true;
    this.place = new Map();
    this.overrides = new Map(); // id -> place: moved here, until the runtime says so
    this.heights = new Map();
    this.portsOf = new Map(); // node id -> its ports, for one drawing (ports)
    this.busy = false;     // a drag is under way: renders wait for its end
    this.refocusing = false; // a render gives the focus back to the node that had it
    this.pending = false;
    this.lastDrawMs = 0;
  }

  // ports lists a node's inports and outports: its component's, then any
  // other port the graph uses (a component not known, or not yet).
  ports(n) {
    const known = this.portsOf.get(n.id);
    if (known && known.node === n) return known;
    const g = this.state.graph;
    const def = this.state.components.get(n.component);
    const ins = def ? def.inPorts.map((p) => Object.assign({}, p)) : [];
    const outs = def ? def.outPorts.map((p) => Object.assign({}, p)) : [];
    const add = (list, port) => {
      if (!list.some((p) => p.id.toLowerCase() === port.toLowerCase())) list.push({ id: port, type: '', description: '' });
    };
    for (const e of g.edges.values()) {
      if (e.src.node === n.id) add(outs, e.src.port);
      if (e.tgt.node === n.id) add(ins, e.tgt.port);
    }
    for (const i of g.iips) if (i.tgt.node === n.id) add(ins, i.tgt.port);
    for (const x of g.inports.values()) if (x.node === n.id) add(ins, x.port);
    for (const x of g.outports.values()) if (x.node === n.id) add(outs, x.port);
    const ports = { ins, outs, node: n };
    this.portsOf.set(n.id, ports);
    return ports;
  }

  height(id) {
    return this.heights.get(id) || nodeHeight(1);
  }

  // placeOf is where a node is now, drawn or not yet (keys pressed faster
  // than frames): moved here, else its metadata, else where it was drawn.
  placeOf(id) {
    const n = this.state.graph && this.state.graph.nodes.get(id);
    if (this.overrides.has(id)) return this.overrides.get(id);
    if (n && hasPosition(n)) return { x: n.metadata.x, y: n.metadata.y };
    return this.place.get(id);
  }

  // anchor is where an edge meets a port, in graph coordinates.
  anchor(ep, out) {
    const p = this.place.get(ep.node), n = this.state.graph.nodes.get(ep.node);
    if (!p || !n) return null;
    const { ins, outs } = this.ports(n);
    const list = out ? outs : ins;
    const i = Math.max(0, list.findIndex((x) => x.id.toLowerCase() === ep.port.toLowerCase()));
    return { x: p.x + (out ? NODE_W : 0), y: p.y + portY(i, list.length, this.height(ep.node)) };
  }

  render() {
    if (this.busy) {
      this.pending = true;
      return;
    }
    const began = performance.now();
    const g = this.state.graph;
    this.heights.clear();
    this.portsOf.clear();
    if (!g) {
      this.edgeLayer.replaceChildren();
      this.nodeLayer.replaceChildren();
      return;
    }
    for (const n of g.nodes.values()) {
      const { ins, outs } = this.ports(n);
      this.heights.set(n.id, nodeHeight(Math.max(ins.length, outs.length)));
    }
    this.place = positions(g, (id) => this.height(id));
    for (const [id, p] of this.overrides) {
      if (this.place.has(id)) this.place.set(id, p); else this.overrides.delete(id);
    }
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('.node');
    const refocus = focused && this.nodeLayer.contains(focused) ? focused.dataset.node : null;
    this.edgeLayer.replaceChildren(...[...g.edges.values()].map((e) => this.drawEdge(e)).filter(Boolean));
    const nodes = [...g.nodes.values()].map((n) => this.drawNode(n));
    const extras = [...g.iips.map((i) => this.drawIIP(i)), ...this.drawExports(g)].filter(Boolean);
    this.nodeLayer.replaceChildren(...extras, ...nodes);
    if (refocus !== null) {
      const again = nodes.find((el) => el.dataset.node === refocus);
      this.refocusing = true; // the focus stays where it was: no new selection
      if (again) again.focus({ preventScroll: true });
      this.refocusing = false;
    }
    if (this.fit) this.keepInView();
    this.lastDrawMs = performance.now() - began;
    this.section.dataset.drawMs = this.lastDrawMs.toFixed(1);
  }

  edgePath(a, b) {
    const bend = Math.max(40, Math.abs(b.x - a.x) / 2);
    return 'M' + a.x + ',' + a.y + ' C' + (a.x + bend) + ',' + a.y + ' ' + (b.x - bend) + ',' + b.y + ' ' + b.x + ',' + b.y;
  }

  drawEdge(e) {
    const a = this.anchor(e.src, true), b = this.anchor(e.tgt, false);
    if (!a || !b) return null;
    const key = edgeKey(e.src, e.tgt);
    const st = this.state;
    const d = this.edgePath(a, b);
    const g = svgEl('g', {
      class: 'edge' + (st.selection.has('e:' + key) ? ' selected' : '') + (st.watched.has(key) ? ' watched' : ''),
      'data-edge': key,
    },
    svgEl('title', {}, key + (st.edgeQueue.get(key) ? '\nqueue ' + st.edgeQueue.get(key) : '') + '\nclick to watch its packets'),
    svgEl('path', { class: 'hit', d }),
    svgEl('path', { class: 'line', d, 'marker-end': 'url(#arrow)' }));
    (st.edgeLabels.get(key) || []).forEach((line, i) => {
      g.append(svgEl('text', { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 + (i ? 13 : -5), 'text-anchor': 'middle', class: 'rate' }, line));
    });
    return g;
  }

  drawNode(n) {
    const st = this.state;
    const p = this.place.get(n.id), h = this.height(n.id);
    const status = st.nodeStatus.get(n.id) || {};
    const { ins, outs } = this.ports(n);
    const short = n.component.slice(n.component.lastIndexOf('/') + 1);
    const node = svgEl('g', {
      class: 'node' + (st.selection.has('n:' + n.id) ? ' selected' : ''),
      'data-node': n.id, 'data-state': status.state || 'unknown', 'data-placed': hasPosition(n) ? 'true' : 'false',
      transform: 'translate(' + p.x + ',' + p.y + ')', tabindex: 0, role: 'button',
      'aria-label': 'node ' + n.id + ' (' + n.component + '), ' + (status.state || 'state unknown'),
    },
    svgEl('title', {}, nodeTitle(n, status)),
    svgEl('rect', { class: 'box', width: NODE_W, height: h, rx: 8 }),
    svgEl('text', { class: 'title', x: NODE_W / 2, y: 14, 'text-anchor': 'middle' }, clip(short, 11)));
    ins.forEach((port, i) => node.append(this.drawPort(n, port, false, portY(i, ins.length, h))));
    outs.forEach((port, i) => node.append(this.drawPort(n, port, true, portY(i, outs.length, h))));
    node.append(svgEl('text', { class: 'label', x: NODE_W / 2, y: h + 14, 'text-anchor': 'middle' }, clip(n.id, 22)),
      svgEl('text', { class: 'sublabel', x: NODE_W / 2, y: h + 27, 'text-anchor': 'middle' }, clip(n.component, 24)));
    const err = st.nodeErrors.get(n.id);
    if (err) {
      node.append(svgEl('g', { class: 'error-badge' }, svgEl('title', {}, err),
        svgEl('circle', { cx: NODE_W - 2, cy: 2, r: 8 }), svgEl('text', { x: NODE_W - 2, y: 6, 'text-anchor': 'middle' }, '!')));
    }
    const waiting = (status.inports || []).filter((i) => i.depth && i.depth.ready > 0);
    if (waiting.length) {
      node.append(svgEl('text', { x: 0, y: -5, class: 'queue' }, clip(waiting.map((i) => i.port + ': ' + i.depth.ready + ' waiting').join(', '), 30)));
    }
    return node;
  }

  drawPort(n, port, out, y) {
    const cls = 'port ' + (out ? 'out' : 'in') + (port.addressable ? ' array' : '');
    const mark = port.addressable
      ? svgEl('rect', { x: (out ? NODE_W : 0) - 4.5, y: y - 4.5, width: 9, height: 9 })
      : svgEl('circle', { cx: out ? NODE_W : 0, cy: y, r: 5 });
    return svgEl('g', { class: cls, 'data-port': port.id, 'data-type': port.type || 'any' },
      svgEl('title', {}, (out ? 'outport ' : 'inport ') + port.id + ' (' + (port.type || 'any') + (port.addressable ? ', array port' : '') + ')' +
        (port.description ? '\n' + port.description : '') + '\ndrag to ' + (out ? 'an inport' : 'an outport') + ' to connect'),
      svgEl('circle', { class: 'port-hit', cx: out ? NODE_W : 0, cy: y, r: 11 }),
      mark,
      svgEl('text', { x: out ? NODE_W - 8 : 8, y: y + 3, 'text-anchor': out ? 'end' : 'start' }, clip(port.id, 7)));
  }

  drawIIP(i) {
    const a = this.anchor(i.tgt, false);
    if (!a) return null;
    const text = json(i.data);
    return svgEl('g', { class: 'iip', 'data-iip': portName(i.tgt) },
      svgEl('title', {}, 'initial packet to ' + portName(i.tgt) + ': ' + text),
      svgEl('path', { d: 'M' + (a.x - 22) + ',' + a.y + ' L' + (a.x - 6) + ',' + a.y }),
      svgEl('text', { x: a.x - 25, y: a.y + 3, 'text-anchor': 'end' }, clip(text, 16)));
  }

  drawExports(g) {
    const out = [];
    const pill = (kind, pub, x) => {
      const a = this.anchor(x, kind === 'out');
      if (!a) return;
      const px = kind === 'in' ? a.x - 92 : a.x + 28;
      out.push(svgEl('g', { class: 'export ' + kind, 'data-export': kind + ':' + pub },
        svgEl('title', {}, (kind === 'in' ? 'exported inport ' : 'exported outport ') + pub + ' (' + portName(x) + ')'),
        svgEl('path', { d: kind === 'in' ? 'M' + (px + 64) + ',' + a.y + ' L' + (a.x - 6) + ',' + a.y : 'M' + (a.x + 6) + ',' + a.y + ' L' + px + ',' + a.y }),
        svgEl('rect', { x: px, y: a.y - 9, width: 64, height: 18, rx: 9 }),
        svgEl('text', { x: px + 32, y: a.y + 4, 'text-anchor': 'middle' }, clip(pub.toUpperCase(), 9))));
    };
    for (const [pub, x] of g.inports) pill('in', pub, x);
    for (const [pub, x] of g.outports) pill('out', pub, x);
    return out;
  }

  // --- the view: zoom and pan ---

  applyZoom() {
    const z = this.zoom;
    this.view.setAttribute('transform', 'translate(' + z.x + ',' + z.y + ') scale(' + z.k + ')');
    this.section.dataset.zoom = z.k.toFixed(3);
  }

  // fitView shows the whole graph, never larger than life, in the middle.
  fitView() {
    const box = this.svg.getBoundingClientRect();
    let b;
    try { b = this.view.getBBox(); } catch (e) { return; }
    if (!box.width || !box.height || !b.width || !b.height) {
      this.zoom = { k: 1, x: FIT_PAD, y: FIT_PAD };
    } else {
      const k = Math.max(MIN_ZOOM, Math.min(1, (box.width - 2 * FIT_PAD) / b.width, (box.height - 2 * FIT_PAD) / b.height));
      this.zoom = { k, x: (box.width - b.width * k) / 2 - b.x * k, y: Math.min(FIT_PAD * 2, (box.height - b.height * k) / 2) - b.y * k };
    }
    this.applyZoom();
  }

  // keepInView fits the view again when the graph no longer fits in it:
  // while the user has not zoomed or panned, the whole graph stays in
  // sight without the view jumping at every change.
  keepInView() {
    const box = this.svg.getBoundingClientRect();
    let b;
    try { b = this.view.getBBox(); } catch (e) { return; }
    const z = this.zoom;
    const inside = b.width && box.width && b.x * z.k + z.x >= 0 && b.y * z.k + z.y >= 0 &&
      (b.x + b.width) * z.k + z.x <= box.width && (b.y + b.height) * z.k + z.y <= box.height;
    if (!inside || !this.fitted) this.fitView();
    this.fitted = true;
  }

  zoomAt(factor, cx, cy) {
    const z = this.zoom;
    const k = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, z.k * factor));
    this.zoom = { k, x: cx - (cx - z.x) * k / z.k, y: cy - (cy - z.y) * k / z.k };
    this.fit = false;
    this.applyZoom();
  }

  zoomBy(factor) {
    const box = this.svg.getBoundingClientRect();
    this.zoomAt(factor, box.width / 2, box.height / 2);
  }

  panBy(dx, dy) {
    this.zoom.x += dx;
    this.zoom.y += dy;
    this.fit = false;
    this.applyZoom();
  }

  // toGraph turns a point of the page (clientX, clientY) into graph
  // coordinates.
  toGraph(cx, cy) {
    const box = this.svg.getBoundingClientRect();
    return { x: (cx - box.left - this.zoom.x) / this.zoom.k, y: (cy - box.top - this.zoom.y) / this.zoom.k };
  }

  // visibleCentre is the middle of what is shown, in graph coordinates.
  visibleCentre() {
    const box = this.svg.getBoundingClientRect();
    return this.toGraph(box.left + box.width / 2, box.top + box.height / 3);
  }

  nodeBox(id) {
    const p = this.place.get(id);
    return p && { x: p.x, y: p.y, w: NODE_W, h: this.height(id) + LABEL_H };
  }
}

function nodeTitle(n, status) {
  const lines = [n.id + ' (' + n.component + ')'];
  if (status.role) lines.push('role ' + status.role);
  lines.push(status.state || 'state not known yet');
  for (const i of status.inports || []) {
    if (i.depth) lines.push('queue ' + i.queue + ': ' + i.depth.ready + ' ready, ' + i.depth.consumers + ' consumers');
  }
  return lines.join('\n');
}
