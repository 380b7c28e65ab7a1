// The pointer on the canvas: drag nodes (every selected node moves), drag
// from a port to a port of the other kind to connect them (or click one
// port, then the other, as in Flowhub), click to select (Shift adds),
// drag the background to pan (Shift+drag selects a box), wheel to zoom,
// double-click a node to rename it. What the user did goes to actions;
// the model changes only when the runtime acknowledges it.
'use strict';

import { svgEl } from './dom.js';

const CLICK_SLOP = 4; // pixels a pointer may move and still click

export class CanvasInput {
  constructor(canvas, actions) {
    this.canvas = canvas;
    this.actions = actions;
    this.drag = null;  // the pointer pressed: what it pressed, where, whether it moved
    this.armed = null; // a port clicked, waiting for the port to connect it to
    const svg = canvas.svg;
    svg.addEventListener('pointerdown', (ev) => this.down(ev));
    svg.addEventListener('pointermove', (ev) => this.move(ev));
    svg.addEventListener('pointerup', (ev) => this.up(ev));
    svg.addEventListener('pointercancel', (ev) => this.up(ev));
    svg.addEventListener('wheel', (ev) => {
      ev.preventDefault();
      const box = svg.getBoundingClientRect();
      canvas.zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - box.left, ev.clientY - box.top);
    }, { passive: false });
    svg.addEventListener('dblclick', (ev) => {
      const nodeEl = ev.target.closest('.node');
      if (nodeEl && !ev.target.closest('.port')) actions.rename(nodeEl.dataset.node);
    });
    // A node reached with the keyboard (Tab) is selected; one a redraw
    // gives the focus back to is not (after Escape it stays unselected).
    svg.addEventListener('focusin', (ev) => {
      const nodeEl = ev.target.closest && ev.target.closest('.node');
      if (nodeEl && !this.drag && !canvas.refocusing && !canvas.state.selection.has('n:' + nodeEl.dataset.node)) actions.select(['n:' + nodeEl.dataset.node]);
    });
  }

  disarm() {
    if (this.armed) this.armed.el.classList.remove('armed');
    this.armed = null;
  }

  down(ev) {
    if (ev.button !== 0) return;
    const c = this.canvas, sel = c.state.selection;
    const port = portAt(ev.target);
    const nodeEl = ev.target.closest('.node');
    const edgeEl = ev.target.closest('.edge');
    const drag = { x0: ev.clientX, y0: ev.clientY, moved: false };
    if (port) {
      Object.assign(drag, { kind: 'connect', port, from: c.anchor(port, port.out) });
    } else if (nodeEl) {
      const id = nodeEl.dataset.node;
      if (ev.shiftKey) this.actions.toggle('n:' + id);
      else if (!sel.has('n:' + id)) this.actions.select(['n:' + id]);
      const ids = [...sel].filter((k) => k.startsWith('n:')).map((k) => k.slice(2));
      Object.assign(drag, { kind: 'node', ids, start: new Map(ids.map((i) => [i, Object.assign({}, c.place.get(i))])) });
    } else if (edgeEl) {
      drag.kind = 'edge';
      if (ev.shiftKey) this.actions.toggle('e:' + edgeEl.dataset.edge);
      else this.actions.select(['e:' + edgeEl.dataset.edge]);
    } else {
      drag.kind = ev.shiftKey ? 'box' : 'pan';
    }
    this.drag = drag;
    c.svg.setPointerCapture(ev.pointerId);
    c.busy = drag.kind === 'node' || drag.kind === 'connect' || drag.kind === 'box';
    ev.preventDefault();
  }

  move(ev) {
    const d = this.drag;
    if (!d) return;
    if (!d.moved && Math.hypot(ev.clientX - d.x0, ev.clientY - d.y0) < CLICK_SLOP) return;
    d.moved = true;
    if (d.kind === 'pan') this.pan(d, ev);
    else if (d.kind === 'node') this.moveNodes(d, ev);
    else if (d.kind === 'connect') this.drawPending(d, ev);
    else if (d.kind === 'box') this.drawBox(d, ev);
  }

  pan(d, ev) {
    this.canvas.panBy(ev.clientX - (d.px ?? d.x0), ev.clientY - (d.py ?? d.y0));
    d.px = ev.clientX;
    d.py = ev.clientY;
  }

  moveNodes(d, ev) {
    const c = this.canvas, k = c.zoom.k;
    for (const id of d.ids) {
      const s = d.start.get(id);
      if (s) c.place.set(id, { x: s.x + (ev.clientX - d.x0) / k, y: s.y + (ev.clientY - d.y0) / k });
    }
    moveDrawn(c, d.ids);
  }

  drawPending(d, ev) {
    if (!d.from) return;
    const c = this.canvas, p = c.toGraph(ev.clientX, ev.clientY);
    const path = d.port.out ? c.edgePath(d.from, p) : c.edgePath(p, d.from);
    if (!d.line) {
      d.line = svgEl('path', { class: 'pending-edge' });
      c.overlay.append(d.line);
    }
    d.line.setAttribute('d', path);
  }

  drawBox(d, ev) {
    const c = this.canvas;
    const a = c.toGraph(d.x0, d.y0), b = c.toGraph(ev.clientX, ev.clientY);
    d.box = { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y) };
    if (!d.rect) {
      d.rect = svgEl('rect', { class: 'select-box' });
      c.overlay.append(d.rect);
    }
    for (const [attr, v] of [['x', d.box.x], ['y', d.box.y], ['width', d.box.w], ['height', d.box.h]]) d.rect.setAttribute(attr, v);
  }

  up(ev) {
    const d = this.drag, c = this.canvas;
    if (!d) return;
    this.drag = null;
    c.overlay.replaceChildren();
    c.busy = false;
    if (d.kind === 'node' && d.moved) {
      this.actions.moveNodes(new Map(d.ids.map((id) => [id, roundPos(c.place.get(id))])));
    } else if (d.kind === 'connect') {
      this.connectFrom(d, portAt(document.elementFromPoint(ev.clientX, ev.clientY)));
    } else if (d.kind === 'box' && d.box) {
      this.selectBox(d.box);
    } else if (d.kind === 'pan' && !d.moved) {
      this.disarm();
      this.actions.select([]);
    }
    if (c.pending || d.moved) {
      c.pending = false;
      c.render();
    }
  }

  // connectFrom ends a press on a port: dragged onto a port, it connects
  // them; clicked, it connects to the port clicked before, or waits for
  // the next click.
  connectFrom(d, target) {
    if (d.moved) {
      if (target) this.connect(d.port, target);
      this.disarm();
    } else if (this.armed && this.connect(this.armed, d.port)) {
      this.disarm();
    } else {
      this.disarm();
      this.armed = d.port;
      this.armed.el.classList.add('armed');
      this.actions.status('Now click the port to connect ' + d.port.node + '.' + d.port.port + ' to (Esc cancels).');
    }
  }

  connect(a, b) {
    if (a.out === b.out) return false;
    const src = a.out ? a : b, tgt = a.out ? b : a;
    this.actions.connect({ node: src.node, port: src.port }, { node: tgt.node, port: tgt.port });
    return true;
  }

  selectBox(box) {
    const keys = [];
    for (const id of this.canvas.place.keys()) {
      const b = this.canvas.nodeBox(id);
      if (b.x < box.x + box.w && box.x < b.x + b.w && b.y < box.y + box.h && box.y < b.y + b.h) keys.push('n:' + id);
    }
    this.actions.select(keys, true);
  }
}

function portAt(target) {
  const el = target && target.closest && target.closest('.port');
  const node = el && el.closest('.node');
  return el && node ? { node: node.dataset.node, port: el.dataset.port, out: el.classList.contains('out'), el } : null;
}

function roundPos(p) {
  return { x: Math.round(p.x), y: Math.round(p.y) };
}

// moveDrawn moves the drawn nodes to their places in canvas.place, and
// the edges, initial packets and exported ports at them, without drawing
// everything again.
function moveDrawn(canvas, ids) {
  const moved = new Set(ids);
  for (const el of canvas.nodeLayer.querySelectorAll('.node')) {
    if (!moved.has(el.dataset.node)) continue;
    const p = canvas.place.get(el.dataset.node);
    el.setAttribute('transform', 'translate(' + p.x + ',' + p.y + ')');
  }
  const g = canvas.state.graph;
  for (const el of canvas.edgeLayer.querySelectorAll('.edge')) {
    const e = g.edges.get(el.dataset.edge);
    if (!e || !(moved.has(e.src.node) || moved.has(e.tgt.node))) continue;
    const d = canvas.edgePath(canvas.anchor(e.src, true), canvas.anchor(e.tgt, false));
    for (const path of el.querySelectorAll('path')) path.setAttribute('d', d);
    for (const t of el.querySelectorAll('text')) t.remove();
  }
  for (const el of canvas.nodeLayer.querySelectorAll('.iip, .export')) el.remove();
  canvas.nodeLayer.prepend(...[...g.iips.map((i) => canvas.drawIIP(i)), ...canvas.drawExports(g)].filter(Boolean));
}
