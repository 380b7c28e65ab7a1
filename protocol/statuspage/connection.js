// The editor's FBP protocol connection: the runtime's own WebSocket, the
// secret presented with every message (as Flowhub does), reconnection with
// backoff. Handlers are registered per "protocol:command" (or "protocol:*"
// and "*").
'use strict';

import { parse, stringify } from './rawjson.js';

const RECONNECT_MIN_MS = 1000;

// KEEP_RAW picks the packets in the messages that carry them: they are
// kept as their JSON text (rawjson.js).
const at = (...want) => (path) => path.length === want.length && want.every((k, i) => k === path[i]);
const KEEP_RAW = {
  'graph:addinitial': at('payload', 'src', 'data'),
  'graph:removeinitial': at('payload', 'src', 'data'),
  'network:data': at('payload', 'data'),
  'runtime:packet': at('payload', 'payload'),
};
const RECONNECT_MAX_MS = 30000;

export class Connection {
  constructor(secret) {
    this.secret = secret;
    this.socket = null;
    this.stopped = true;
    this.delay = RECONNECT_MIN_MS;
    this.handlers = new Map();
    this.onstate = () => {};
  }

  on(key, fn) {
    if (!this.handlers.has(key)) this.handlers.set(key, []);
    this.handlers.get(key).push(fn);
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    const ws = this.socket;
    this.socket = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close();
    }
  }

  get connected() {
    return !!this.socket && this.socket.readyState === WebSocket.OPEN;
  }

  open() {
    if (this.socket || this.stopped) return;
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/', 'noflo');
    this.socket = ws;
    ws.onopen = () => {
      this.delay = RECONNECT_MIN_MS;
      this.onstate(true, 'live');
      this.send('runtime', 'getruntime', {});
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
        const keep = msg && KEEP_RAW[msg.protocol + ':' + msg.command];
        if (keep) msg = parse(ev.data, keep);
      } catch (e) {
        return;
      }
      if (!msg || typeof msg.protocol !== 'string' || typeof msg.command !== 'string') return;
      this.dispatch(msg);
    };
    ws.onclose = () => {
      this.socket = null;
      if (this.stopped) return;
      this.onstate(false, 'disconnected; reconnecting');
      setTimeout(() => this.open(), this.delay);
      this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
    };
  }

  dispatch(msg) {
    const payload = msg.payload === undefined || msg.payload === null ? {} : msg.payload;
    for (const key of [msg.protocol + ':' + msg.command, msg.protocol + ':*', '*']) {
      for (const fn of this.handlers.get(key) || []) {
        try {
          fn(payload, msg);
        } catch (err) {
          console.error('handling', msg.protocol + ':' + msg.command, err);
        }
      }
    }
  }

  // send returns whether the message went out (false while disconnected).
  send(protocol, command, payload) {
    if (!this.connected) return false;
    this.socket.send(stringify({ protocol, command, payload, secret: this.secret }));
    return true;
  }
}
