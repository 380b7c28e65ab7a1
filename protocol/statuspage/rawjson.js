// Packets are bytes: the JSON text of an initial packet or a packet reaches
// participants as it was written (1.0 stays 1.0, 1e2 stays 1e2, a big
// integer keeps its digits, "\u00e6" stays escaped), and the runtime keeps
// it so. JSON.parse and JSON.stringify would rewrite it. The editor keeps
// such values as Raw (their text, compacted as the runtime compacts it) from
// where it reads them (the graph's source, the protocol's events, files,
// the user's typing) to where it writes them (messages, downloads).
'use strict';

export class Raw {
  // text must be JSON (else this throws, saying where it is not).
  constructor(text) {
    this.text = compact(String(text));
  }

  get value() {
    return JSON.parse(this.text);
  }

  toJSON() {
    return this.value; // for code that does not know Raw
  }

  toString() {
    return this.text;
  }
}

// valueOf is a value as JavaScript sees it.
export function valueOf(v) {
  return v instanceof Raw ? v.value : v;
}

// textOf is a value's JSON text: a Raw's own.
export function textOf(v) {
  return v instanceof Raw ? v.text : JSON.stringify(v === undefined ? null : v);
}

// stringify is JSON.stringify with every Raw written as its text.
export function stringify(value, indent) {
  const raws = [];
  const nonce = Math.random().toString(36).slice(2);
  const text = JSON.stringify(value, function (key, v) {
    const own = this[key];
    if (own instanceof Raw) {
      raws.push(own.text);
      return '\u0000raw' + nonce + ':' + (raws.length - 1) + '\u0000';
    }
    return v;
  }, indent);
  if (!raws.length) return text;
  return text.replace(new RegExp('"\\\\u0000raw' + nonce + ':(\\d+)\\\\u0000"', 'g'), (_, i) => raws[Number(i)]);
}

// parse is JSON.parse, except that the values at the paths keep(path)
// picks (path: the keys and indexes from the top) are Raw.
export function parse(text, keep) {
  const r = new Reader(String(text), keep);
  r.ws();
  const v = r.value([]);
  r.ws();
  if (r.i < r.s.length) r.fail('the end');
  return v;
}

// compact is JSON text without the whitespace between tokens; it throws on
// what is not JSON.
export function compact(text) {
  const r = new Reader(text, null);
  r.out = [];
  r.ws();
  r.value([]);
  r.ws();
  if (r.i < r.s.length) r.fail('the end');
  return r.out.join('');
}

const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

class Reader {
  constructor(s, keep) {
    this.s = s;
    this.i = 0;
    this.keep = keep;
    this.out = null; // collects the compacted text, when compacting
  }

  fail(what) {
    throw new SyntaxError('JSON: expected ' + what + ' at position ' + this.i);
  }

  ws() {
    const s = this.s;
    while (this.i < s.length && (s[this.i] === ' ' || s[this.i] === '\t' || s[this.i] === '\n' || s[this.i] === '\r')) this.i++;
  }

  emit(text) {
    if (this.out) this.out.push(text);
  }

  value(path) {
    if (this.keep && this.keep(path)) {
      const start = this.i;
      const inner = new Reader(this.s, null);
      inner.i = start;
      inner.out = [];
      inner.value([]);
      this.i = inner.i;
      const raw = Object.create(Raw.prototype);
      raw.text = inner.out.join('');
      return raw;
    }
    const c = this.s[this.i];
    if (c === '{') return this.object(path);
    if (c === '[') return this.array(path);
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]]) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        this.emit(word);
        return v;
      }
    }
    return this.fail('a value');
  }

  // items reads an object's members or an array's items up to close,
  // item() reading each.
  items(close, item) {
    this.emit(this.s[this.i++]);
    this.ws();
    if (this.s[this.i] === close) {
      this.emit(this.s[this.i++]);
      return;
    }
    for (;;) {
      this.ws();
      item();
      this.ws();
      const c = this.s[this.i++];
      if (c === close) {
        this.emit(close);
        return;
      }
      if (c !== ',') this.fail("',' or '" + close + "'");
      this.emit(',');
    }
  }

  object(path) {
    const obj = {};
    this.items('}', () => {
      if (this.s[this.i] !== '"') this.fail('a key');
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ':') this.fail("':'");
      this.emit(this.s[this.i++]);
      this.ws();
      // defineProperty: a key "__proto__" is a key like any other
      Object.defineProperty(obj, key, { value: this.value(path.concat([key])), enumerable: true, writable: true, configurable: true });
    });
    return obj;
  }

  array(path) {
    const arr = [];
    this.items(']', () => arr.push(this.value(path.concat([arr.length]))));
    return arr;
  }

  string() {
    STRING.lastIndex = this.i;
    const m = STRING.exec(this.s);
    if (!m) this.fail('a string');
    this.i += m[0].length;
    this.emit(m[0]);
    return JSON.parse(m[0]);
  }

  number() {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.s);
    if (!m) this.fail('a number');
    this.i += m[0].length;
    this.emit(m[0]);
    return Number(m[0]);
  }
}
