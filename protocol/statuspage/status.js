// The page the runtime serves at /: its graph editor, and its status
// (participants, their processes, node states, the last errors). The
// secret comes from the URL fragment (#secret=..., never sent to the
// server) or the form; without it, or with a wrong one, the page shows the
// form and nothing else. The editor speaks the FBP protocol over the
// runtime's own WebSocket (editor.js); what the protocol does not carry
// comes from GET /status.json (overview.js). Nothing is loaded from any
// other host.
'use strict';

import { $ } from './dom.js';
import { Connection } from './connection.js';
import { Editor } from './editor.js';
import { Overview } from './overview.js';

// The fragment is form-encoded (StatusPageURL: url.QueryEscape, '+' for a
// space); URLSearchParams decodes it so, and never throws.
const fragmentSecret = () => new URLSearchParams(location.hash.slice(1)).get('secret') || '';

const conn = new Connection(fragmentSecret());
// The page's editor, for scripts and tests: import('/status/status.js').
export const editor = new Editor(conn);
let authorized = false;

const overview = new Overview(editor.state, (d) => {
  for (const g of d.graphs || []) {
    const known = editor.state.graphs.get(g.id) || {};
    editor.state.graphs.set(g.id, Object.assign(known, { main: !!g.main }));
  }
  if (!editor.state.graphID && d.graphs && d.graphs.length && authorized) editor.openGraph(d.graphs[0].id);
  editor.schedule();
}, askSecret, (text) => setConnection(false, text));

conn.onstate = setConnection;

// What the runtime allows this client tells whether the secret was right.
conn.on('runtime:runtime', (p) => {
  const caps = p.capabilities || [];
  if (!caps.includes('protocol:graph')) {
    askSecret(conn.secret ? 'Wrong secret.' : '');
    return;
  }
  authorized = true;
  $('auth').hidden = true;
  $('editor').hidden = false;
  $('status').hidden = false;
  addSecretToFlowhubLink(conn.secret);
});
conn.on('runtime:error', (p) => {
  if (!authorized) askSecret(p.message);
});
for (const key of ['graph:*', 'network:*', 'runtime:runtime', 'component:component']) {
  conn.on(key, () => overview.soon());
}

function begin(secret) {
  conn.secret = secret;
  conn.start();
  overview.start(secret);
}

function askSecret(message) {
  authorized = false;
  conn.stop();
  overview.stop();
  $('editor').hidden = true;
  $('status').hidden = true;
  $('auth').hidden = false;
  $('auth_error').textContent = message;
  $('secret').focus();
}

$('auth').addEventListener('submit', (ev) => {
  ev.preventDefault();
  begin($('secret').value);
});

function setConnection(up, text) {
  $('connection').textContent = text;
  $('connection').className = up ? 'connection' : 'connection down';
}

function addSecretToFlowhubLink(secret) {
  const flowhub = $('flowhub_url');
  if (secret && !flowhub.dataset.secret) {
    flowhub.href += '&secret=' + encodeURIComponent(secret);
    flowhub.dataset.secret = 'added';
  }
}

begin(conn.secret);
