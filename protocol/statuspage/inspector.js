// The side panel: what is selected, and what can be done with it. With
// nothing selected it shows the graph: its exported ports (rename, remove,
// send a packet to an inport) and the packets its exported outports sent.
// A node: rename, its ports with their initial packets (JSON, checked
// before it is sent), export a port, connect an outport, delete. An edge:
// the packets passing it, live, and delete.
'use strict';

import { el, json, clip } from './dom.js';
import { edgeKey, portName } from './graph.js';

const MAX_SHOWN_PACKETS = 100;

export class Inspector {
  constructor(root, state, actions) {
    this.root = root;
    this.state = state;
    this.actions = actions;
    this.shown = '';
    this.problems = new Map(); // field -> what is wrong with what was submitted
  }

  // render draws the panel again when what it shows changed; the field
  // being typed in keeps its text, caret and focus.
  render() {
    const sig = this.signature();
    if (sig === this.shown) return;
    this.shown = sig;
    const selected = [...this.state.selection].sort().join('|');
    if (selected !== this.selectedShown) this.problems.clear();
    this.selectedShown = selected;
    const active = document.activeElement;
    const keep = active && this.root.contains(active) && active.dataset.key
      ? { key: active.dataset.key, value: active.value, start: active.selectionStart, end: active.selectionEnd } : null;
    this.root.replaceChildren(...this.panel().filter(Boolean));
    if (keep) {
      const again = this.root.querySelector('[data-key="' + CSS.escape(keep.key) + '"]');
      if (again) {
        if (again.tagName === 'INPUT' && again.type !== 'button') {
          again.value = keep.value;
          try { again.setSelectionRange(keep.start, keep.end); } catch (e) { /* not a text field */ }
        }
        again.focus({ preventScroll: true });
      }
    }
  }

  signature() {
    const st = this.state, g = st.graph;
    if (!g) return 'none';
    const sel = [...st.selection].sort();
    const parts = [g.id, sel.join('|'), st.running];
    for (const key of sel) {
      if (key.startsWith('n:')) {
        const id = key.slice(2), n = g.nodes.get(id);
        parts.push(json(n), json(g.iips.filter((i) => i.tgt.node === id)), json(g.exportsOf(id)), json(st.components.get(n && n.component)),
          json(st.nodeStatus.get(id)), st.nodeErrors.get(id), json([...g.nodes.keys()]), json([...g.edges.keys()]));
      } else {
        parts.push(g.edges.has(key.slice(2)));
      }
    }
    if (!sel.length) parts.push(json([...g.inports]), json([...g.outports]), g.nodes.size, g.edges.size);
    return parts.join('\n');
  }

  panel() {
    const st = this.state, g = st.graph;
    if (!g) return [el('p', { class: 'hint' }, 'No graph open.')];
    const nodes = [...st.selection].filter((k) => k.startsWith('n:')).map((k) => k.slice(2)).filter((id) => g.nodes.has(id));
    const edges = [...st.selection].filter((k) => k.startsWith('e:')).map((k) => k.slice(2)).filter((k) => g.edges.has(k));
    if (nodes.length + edges.length === 0) return this.graphPanel(g);
    if (nodes.length === 1 && edges.length === 0) return this.nodePanel(g, g.nodes.get(nodes[0]));
    if (edges.length === 1 && nodes.length === 0) return this.edgePanel(g, g.edges.get(edges[0]));
    return [
      el('h3', {}, 'Selection'),
      el('p', {}, nodes.length + ' nodes and ' + edges.length + ' edges selected.'),
      edges.length ? this.packetList(edges) : null,
      el('button', { id: 'delete_selection', type: 'button', 'data-key': 'delete', on: { click: () => this.actions.deleteSelection() } }, 'Delete (Del)'),
    ];
  }

  graphPanel(g) {
    const exportRows = (kind, map) => [...map].map(([pub, x]) => el('li', { 'data-export': kind + ':' + pub },
      form(this, 'rename-' + kind + ':' + pub, pub, 'rename', (v) => this.actions.renameExport(kind, pub, v), 'Rename', 'name of the exported port'),
      el('span', { class: 'muted' }, ' → ' + x.node + '.' + x.port + ' '),
      el('button', { type: 'button', 'data-key': 'unexport-' + kind + ':' + pub, title: 'Stop exporting', on: { click: () => this.actions.unexport(kind, pub) } }, 'Remove'),
      kind === 'in' ? form(this, 'send-' + pub, '', 'send', (v) => this.actions.sendPacket(pub, v), 'Send', 'a packet (JSON) for ' + pub, true) : null));
    return [
      el('h3', {}, 'Graph ' + g.id),
      el('p', { class: 'muted' }, g.nodes.size + ' nodes, ' + g.edges.size + ' edges, ' + g.iips.length + ' initial packets. ' +
        'Select a node to edit it, an edge to watch its packets.'),
      el('h4', {}, 'Exported inports'),
      g.inports.size ? el('ul', { class: 'exports', id: 'graph_inports' }, ...exportRows('in', g.inports)) : el('p', { class: 'muted' }, 'None: export a node\'s inport from its panel.'),
      el('h4', {}, 'Exported outports'),
      g.outports.size ? el('ul', { class: 'exports', id: 'graph_outports' }, ...exportRows('out', g.outports)) : el('p', { class: 'muted' }, 'None.'),
      el('h4', {}, 'Packets from exported outports'),
      this.outputList(),
    ];
  }

  nodePanel(g, n) {
    const st = this.state;
    const def = st.components.get(n.component);
    const status = st.nodeStatus.get(n.id) || {};
    const { ins, outs } = this.actions.portsOf(n);
    const err = st.nodeErrors.get(n.id);
    return [
      el('h3', {}, 'Node'),
      form(this, 'node_id', n.id, 'node_id', (v) => this.actions.rename(n.id, v), 'Rename', 'node id (its role on the broker)'),
      el('p', {}, el('b', {}, n.component), def && def.description ? ': ' + def.description : ''),
      el('p', { class: 'node-state', 'data-state': status.state || 'unknown' }, 'Participant: ' + (status.state || 'not known yet') + (status.role && status.role !== n.id ? ' (role ' + status.role + ')' : '')),
      err ? el('p', { class: 'error node-error' }, err) : null,
      el('h4', {}, 'Inports'),
      el('ul', { class: 'ports' }, ...ins.map((p) => this.inportRow(g, n, p))),
      el('h4', {}, 'Outports'),
      el('ul', { class: 'ports' }, ...outs.map((p) => this.outportRow(g, n, p))),
      this.connectForm(g, n, outs),
      el('p', {}, el('button', { id: 'node_delete', type: 'button', 'data-key': 'node_delete', on: { click: () => this.actions.deleteSelection() } }, 'Delete node (Del)')),
    ];
  }

  inportRow(g, n, p) {
    const tgt = { node: n.id, port: p.id };
    const iips = g.iipsTo(tgt);
    const exported = [...g.inports].find(([, x]) => x.node === n.id && x.port.toLowerCase() === p.id.toLowerCase());
    return el('li', { 'data-port': p.id },
      el('div', {}, el('b', {}, p.id), portInfo(p), exported ? el('span', { class: 'muted' }, ' exported as ' + exported[0]) : null),
      p.description ? el('div', { class: 'muted' }, p.description) : null,
      el('div', { class: 'iip-row' },
        form(this, 'iip:' + p.id, iips.length ? json(iips[0].data) : '', 'iip', (v) => this.actions.setInitial(tgt, v), 'Set', 'initial packet (JSON), e.g. "hello" or {"n": 1}', true),
        iips.length ? el('button', { type: 'button', class: 'iip-remove', 'data-key': 'iip-remove:' + p.id, on: { click: () => this.actions.setInitial(tgt, undefined) } }, 'Remove') : null,
        exported ? null : el('button', { type: 'button', class: 'export-port', 'data-key': 'export-in:' + p.id, on: { click: () => this.actions.exportPort('in', n.id, p.id) } }, 'Export')));
  }

  outportRow(g, n, p) {
    const exported = [...g.outports].find(([, x]) => x.node === n.id && x.port.toLowerCase() === p.id.toLowerCase());
    return el('li', { 'data-port': p.id },
      el('div', {}, el('b', {}, p.id), portInfo(p), exported ? el('span', { class: 'muted' }, ' exported as ' + exported[0]) : null,
        exported ? null : el('button', { type: 'button', class: 'export-port', 'data-key': 'export-out:' + p.id, on: { click: () => this.actions.exportPort('out', n.id, p.id) } }, 'Export')),
      p.description ? el('div', { class: 'muted' }, p.description) : null);
  }

  // connectForm connects an outport of the node to an inport of another
  // node: the keyboard's way of dragging an edge.
  connectForm(g, n, outs) {
    if (!outs.length) return null;
    const targets = [];
    for (const m of g.nodes.values()) {
      for (const p of this.actions.portsOf(m).ins) targets.push(m.id + '.' + p.id);
    }
    const from = el('select', { id: 'connect_from', 'data-key': 'connect_from', 'aria-label': 'outport' }, ...outs.map((p) => el('option', { value: p.id }, p.id)));
    const to = el('select', { id: 'connect_to', 'data-key': 'connect_to', 'aria-label': 'inport to connect to' }, ...targets.map((t) => el('option', { value: t }, t)));
    return el('form', { id: 'connect', class: 'connect', on: { submit: (ev) => {
      ev.preventDefault();
      const t = to.value, dot = t.lastIndexOf('.');
      if (dot > 0) this.actions.connect({ node: n.id, port: from.value }, { node: t.slice(0, dot), port: t.slice(dot + 1) });
    } } }, el('h4', {}, 'Connect (C)'), from, ' → ', to, ' ', el('button', { type: 'submit', 'data-key': 'connect_go' }, 'Connect'));
  }

  edgePanel(g, e) {
    const key = edgeKey(e.src, e.tgt);
    return [
      el('h3', {}, 'Edge'),
      el('p', {}, portName(e.src) + ' → ' + portName(e.tgt)),
      el('p', { class: 'muted' }, this.state.running ? 'Packets passing it appear here as they pass.' : 'Start the graph to see packets pass.'),
      this.packetList([key]),
      el('p', {}, el('button', { id: 'edge_delete', type: 'button', 'data-key': 'edge_delete', on: { click: () => this.actions.deleteSelection() } }, 'Delete edge (Del)')),
    ];
  }

  packetList(keys) {
    const list = el('ol', { class: 'packets', id: 'edge_packets', reversed: true });
    this.packetsOf = new Set(keys);
    this.packetsEl = list;
    const all = keys.flatMap((k) => (this.state.packets.get(k) || []).map((p) => Object.assign({ key: k }, p)))
      .sort((a, b) => a.t - b.t).slice(-MAX_SHOWN_PACKETS);
    for (const p of all) list.prepend(packetItem(p, keys.length > 1));
    return list;
  }

  // packet shows a packet on a watched edge, if its panel is open.
  packet(key, p) {
    if (!this.packetsEl || !this.packetsEl.isConnected || !this.packetsOf.has(key)) return;
    this.packetsEl.prepend(packetItem(Object.assign({ key }, p), this.packetsOf.size > 1));
    while (this.packetsEl.children.length > MAX_SHOWN_PACKETS) this.packetsEl.lastChild.remove();
  }

  outputList() {
    const list = el('ol', { class: 'packets', id: 'graph_output', reversed: true });
    for (const p of this.state.output) list.prepend(packetItem(p, true));
    if (!this.state.output.length) list.append(el('li', { class: 'muted' }, 'None yet.'));
    this.outputEl = list;
    return list;
  }

  output(p) {
    if (!this.outputEl || !this.outputEl.isConnected) return;
    const none = this.outputEl.querySelector('li.muted');
    if (none) none.remove();
    this.outputEl.prepend(packetItem(p, true));
    while (this.outputEl.children.length > MAX_SHOWN_PACKETS) this.outputEl.lastChild.remove();
  }
}

function portInfo(p) {
  return el('span', { class: 'muted' }, ' (' + (p.type || 'any') + (p.addressable ? ', array port' : '') + ')');
}

function packetItem(p, named) {
  const text = json(p.data);
  return el('li', { title: new Date(p.t).toLocaleTimeString() },
    named ? el('span', { class: 'muted' }, (p.key || p.port) + ': ') : null,
    el('code', {}, clip(text, 2000)));
}

// form is a one-field form: Enter or its button submits the value. The
// action checks it, and what it says is wrong is shown beside the field
// (nothing is sent then).
function form(insp, key, value, cls, submit, label, placeholder, wide) {
  const input = el('input', { type: 'text', class: cls + (wide ? ' wide' : ''), 'data-key': key, placeholder, 'aria-label': placeholder, spellcheck: 'false', autocomplete: 'off' });
  input.value = value;
  if (key === 'node_id') input.id = 'node_id';
  const problem = el('span', { class: 'error field-error', role: 'alert' });
  const show = (text) => {
    problem.textContent = text;
    input.setAttribute('aria-invalid', text ? 'true' : 'false');
    if (text) insp.problems.set(key, text); else insp.problems.delete(key);
  };
  show(insp.problems.get(key) || '');
  input.addEventListener('input', () => show(''));
  return el('form', { class: 'inline ' + cls, on: { submit: (ev) => {
    ev.preventDefault();
    show(submit(input.value) || '');
  } } }, input, ' ', el('button', { type: 'submit', 'data-key': key + '/go' }, label), problem);
}
