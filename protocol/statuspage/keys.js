// The keyboard. Outside text fields: / search the palette (Enter adds the
// first match), Tab moves through the nodes (selecting them), arrows move
// the selected nodes (Shift: further), C connects an outport of the
// selected node, F2 renames it, Delete removes the selection, Escape
// clears it, Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y) undo and redo, + - 0 zoom
// in, out and to fit, L lays the graph out. Ctrl+Enter starts or stops
// the graph, from anywhere.
'use strict';

import { $ } from './dom.js';

const NUDGE = 12;

export function bindKeys(ed) {
  document.addEventListener('keydown', (ev) => {
    if ($('editor').hidden) return;
    const typing = ev.target.closest && ev.target.closest('input, textarea, select');
    const ctrl = ev.ctrlKey || ev.metaKey;
    if (ctrl && ev.key === 'Enter') {
      ev.preventDefault();
      ed.toggleRunning();
      return;
    }
    if (typing) return;
    if (ctrl) {
      const key = ev.key.toLowerCase();
      if (key === 'z') {
        ev.preventDefault();
        if (ev.shiftKey) ed.redo(); else ed.undo();
      } else if (key === 'y') {
        ev.preventDefault();
        ed.redo();
      }
      return;
    }
    if (ev.altKey) return;
    const handler = plainKeys[ev.key];
    if (handler && handler(ed, ev) !== false) ev.preventDefault();
  });
}

const plainKeys = {
  '/': () => {
    $('palette_search').focus();
    $('palette_search').select();
  },
  Delete: (ed) => ed.deleteSelection(),
  Backspace: (ed) => ed.deleteSelection(),
  Escape: (ed) => {
    ed.input.disarm();
    ed.select([]);
  },
  F2: (ed) => {
    const id = selectedNode(ed);
    if (id === null) return false;
    ed.rename(id);
  },
  c: (ed) => connectKey(ed),
  C: (ed) => connectKey(ed),
  l: (ed) => ed.autoLayout(),
  L: (ed) => ed.autoLayout(),
  '+': (ed) => ed.canvas.zoomBy(1.25),
  '=': (ed) => ed.canvas.zoomBy(1.25),
  '-': (ed) => ed.canvas.zoomBy(0.8),
  0: (ed) => {
    ed.canvas.fit = true;
    ed.canvas.fitView();
  },
  ArrowLeft: (ed, ev) => nudge(ed, -1, 0, ev.shiftKey),
  ArrowRight: (ed, ev) => nudge(ed, 1, 0, ev.shiftKey),
  ArrowUp: (ed, ev) => nudge(ed, 0, -1, ev.shiftKey),
  ArrowDown: (ed, ev) => nudge(ed, 0, 1, ev.shiftKey),
};

function selectedNode(ed) {
  const nodes = [...ed.state.selection].filter((k) => k.startsWith('n:'));
  return nodes.length === 1 ? nodes[0].slice(2) : null;
}

function connectKey(ed) {
  if (selectedNode(ed) === null) {
    ed.say('Select a node (Tab) to connect one of its outports.');
    return;
  }
  ed.draw();
  const from = $('connect_from');
  if (from) from.focus();
  else ed.say('This node has no outport.');
}

function nudge(ed, dx, dy, far) {
  const ids = [...ed.state.selection].filter((k) => k.startsWith('n:')).map((k) => k.slice(2));
  if (!ids.length) return false;
  const step = far ? NUDGE * 4 : NUDGE;
  const moves = new Map();
  for (const id of ids) {
    const p = ed.canvas.placeOf(id);
    if (p) moves.set(id, { x: Math.round(p.x + dx * step), y: Math.round(p.y + dy * step) });
  }
  ed.moveNodes(moves);
  ed.schedule();
}
