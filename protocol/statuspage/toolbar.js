// The toolbar above the canvas: the graph chooser and New…, Start/Stop
// and the graph's state, Undo/Redo, Auto-layout, zoom, Download and Load….
'use strict';

import { $, el } from './dom.js';

export function bindToolbar(ed) {
  const on = (id, ev, fn) => $(id).addEventListener(ev, fn);
  on('graph_select', 'change', () => ed.openGraph($('graph_select').value));
  on('run', 'click', () => ed.toggleRunning());
  on('undo', 'click', () => ed.undo());
  on('redo', 'click', () => ed.redo());
  on('layout', 'click', () => ed.autoLayout());
  on('zoom_in', 'click', () => ed.canvas.zoomBy(1.25));
  on('zoom_out', 'click', () => ed.canvas.zoomBy(0.8));
  on('zoom_fit', 'click', () => {
    ed.canvas.fit = true;
    ed.canvas.fitView();
  });
  on('download_fbp', 'click', () => ed.downloadAs('fbp'));
  on('download_json', 'click', () => ed.downloadAs('json'));
  on('graph_new', 'click', () => {
    $('new_graph').hidden = false;
    $('new_graph_id').focus();
  });
  on('new_graph', 'submit', (ev) => {
    ev.preventDefault();
    const problem = ed.createGraph($('new_graph_id').value);
    $('new_graph_error').textContent = problem;
    if (!problem) {
      $('new_graph').hidden = true;
      $('new_graph_id').value = '';
    }
  });
  on('new_graph_cancel', 'click', () => { $('new_graph').hidden = true; });
  on('load_file', 'change', async () => {
    const file = $('load_file').files[0];
    if (!file) return;
    ed.pendingFile = { name: file.name, text: await file.text() };
    $('load_name').textContent = file.name;
    $('load_graph_id').value = file.name.replace(/\.(fbp|json)$/i, '').replace(/[^a-zA-Z0-9_./-]+/g, '_');
    $('load').hidden = false;
    $('load_graph_id').focus();
  });
  on('load', 'submit', (ev) => {
    ev.preventDefault();
    const problem = ed.pendingFile ? ed.load(ed.pendingFile.name, ed.pendingFile.text, $('load_graph_id').value.trim()) : 'Choose a file.';
    $('load_error').textContent = problem;
    if (!problem) {
      $('load').hidden = true;
      $('load_file').value = '';
    }
  });
  on('load_cancel', 'click', () => {
    $('load').hidden = true;
    $('load_file').value = '';
  });
}

export function updateToolbar(ed) {
  const st = ed.state;
  const select = $('graph_select');
  const ids = [...st.graphs.keys()].sort((a, b) => (st.graphs.get(b).main - st.graphs.get(a).main) || a.localeCompare(b));
  const want = ids.map((id) => id + (st.graphs.get(id).main ? ' (main)' : '')).join('\n');
  if (select.dataset.options !== want) {
    select.replaceChildren(...ids.map((id) => el('option', { value: id }, id + (st.graphs.get(id).main ? ' (main)' : ''))));
    select.dataset.options = want;
  }
  if (select.value !== st.graphID) select.value = st.graphID;
  const run = $('run');
  run.textContent = st.running ? 'Stop' : 'Start';
  run.setAttribute('aria-pressed', st.running ? 'true' : 'false');
  $('run_state').textContent = st.running === null ? '' : st.running ? 'running' : 'stopped';
  $('run_state').dataset.running = String(!!st.running);
  const h = ed.history.peek(st.graphID);
  $('undo').disabled = !h.undo;
  $('undo').title = h.undo ? 'Undo ' + h.undo.label + ' (Ctrl+Z)' : 'Nothing to undo';
  $('redo').disabled = !h.redo;
  $('redo').title = h.redo ? 'Redo ' + h.redo.label + ' (Ctrl+Shift+Z)' : 'Nothing to redo';
  const section = $('canvas');
  section.dataset.graph = st.graphID;
  section.dataset.loaded = st.graph && !st.loading ? 'true' : 'false';
}
