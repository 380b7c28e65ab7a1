// The FBP language (.fbp files) in the editor: parse reads it into the
// JSON graph format, as the fbp parser (1.8.0) of NoFlo and msgflo does and
// as the runtime's own parser (graph/fbp.go) does; serialize writes a graph
// back as .fbp. Written for this project from the grammar.
'use strict';

import { Raw, valueOf } from './rawjson.js';

export class FBPError extends Error {}

const isAlpha = (c) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isDigit = (c) => c >= '0' && c <= '9';
const isNewline = (c) => c === '\n' || c === '\r' || c === '\u2028' || c === '\u2029';
const nodeNameRE = /^[a-zA-Z_][a-zA-Z0-9_-]*$/;
const componentRE = /^[a-zA-Z0-9/_-]*$/;
const portNameRE = /^[a-zA-Z_][a-zA-Z.0-9_]*$/;

class Parser {
  constructor(src) {
    this.in = Array.from(src);
    this.pos = 0;
    this.failPos = 0;
    this.expected = [];
    this.defaultIn = 'IN';
    this.defaultOut = 'OUT';
    this.nodes = new Map(); // name -> {component, hasComp, metadata}
    this.anonIndex = new Map();
    this.anonNames = new Map();
    this.edges = [];
    this.inports = new Map();
    this.outports = new Map();
    this.properties = null;
  }

  fail(what) {
    if (this.pos > this.failPos) {
      this.failPos = this.pos;
      this.expected = [];
    }
    if (this.pos === this.failPos) this.expected.push(what);
  }

  peek() { return this.in[this.pos]; }

  lit(s) {
    const r = Array.from(s);
    for (let i = 0; i < r.length; i++) {
      if (this.in[this.pos + i] !== r[i]) {
        this.fail(JSON.stringify(s));
        return false;
      }
    }
    this.pos += r.length;
    return true;
  }

  cls(ok, what) {
    const c = this.in[this.pos];
    if (c !== undefined && ok(c)) {
      this.pos++;
      return c;
    }
    this.fail(what);
    return null;
  }

  many(ok) {
    const start = this.pos;
    while (this.pos < this.in.length && ok(this.in[this.pos])) this.pos++;
    return this.in.slice(start, this.pos).join('');
  }

  ws0() { this.many((c) => c === ' '); }
  ws1() {
    if (this.cls((c) => c === ' ', '" "') === null) return false;
    this.ws0();
    return true;
  }
  newline() { return this.cls(isNewline, 'newline') !== null; }

  // choice tries alternatives from the same position: the first that
  // matches wins; none restores the position.
  choice(...alts) {
    const start = this.pos;
    for (const alt of alts) {
      this.pos = start;
      const v = alt();
      if (v !== null && v !== false && v !== undefined) return v;
    }
    this.pos = start;
    return null;
  }

  parse() {
    while (this.pos < this.in.length) {
      const start = this.pos;
      if (!this.line()) {
        this.pos = start;
        throw this.syntaxError();
      }
    }
    return this.result();
  }

  line() {
    return this.choice(
      () => this.exportLine('INPORT=', this.inports),
      () => this.exportLine('OUTPORT=', this.outports),
      () => this.defaultLine('DEFAULT_INPORT=', 'defaultIn'),
      () => this.defaultLine('DEFAULT_OUTPORT=', 'defaultOut'),
      () => {
        const a = this.annotation();
        if (!a || !this.newline()) return false;
        this.properties = this.properties || {};
        if (a[0] === 'runtime') this.properties.environment = { type: a[1] };
        else this.properties[a[0]] = a[1];
        return true;
      },
      () => {
        if (!this.comment()) return false;
        const save = this.pos;
        if (!this.newline()) this.pos = save;
        return true;
      },
      () => { this.ws0(); return this.newline(); },
      () => {
        this.ws0();
        const parts = this.connection();
        if (!parts) return false;
        this.ws0();
        this.lineTerminator();
        this.edges.push(...parts);
        return true;
      });
  }

  exportLine(keyword, into) {
    this.ws0();
    if (!this.lit(keyword)) return false;
    const node = this.node();
    if (node === null || !this.lit('.')) return false;
    const port = this.portName();
    if (port === null || !this.lit(':')) return false;
    const pub = this.portName();
    if (pub === null) return false;
    this.ws0();
    this.lineTerminator();
    into.set(pub.toLowerCase(), { process: node, port: port.toLowerCase() });
    return true;
  }

  defaultLine(keyword, field) {
    this.ws0();
    if (!this.lit(keyword)) return false;
    const name = this.portName();
    if (name === null) return false;
    this.ws0();
    this.lineTerminator();
    this[field] = name;
    return true;
  }

  lineTerminator() {
    this.ws0();
    if (this.peek() === ',') this.pos++;
    const save = this.pos;
    if (!this.comment()) this.pos = save;
    if (this.pos < this.in.length && isNewline(this.peek())) this.pos++;
  }

  comment() {
    this.ws0();
    if (!this.lit('#')) return false;
    this.many((c) => !isNewline(c));
    return true;
  }

  annotation() {
    if (!this.lit('#') || !this.ws1() || !this.lit('@')) return null;
    const key = this.many((c) => isAlpha(c) || isDigit(c) || c === '-' || c === '_');
    if (key === '') {
      this.fail('annotation name');
      return null;
    }
    if (!this.ws1()) return null;
    const value = this.many((c) => isAlpha(c) || isDigit(c) || c === '-' || c === '_' || c === ' ' || c === '.');
    if (value === '') {
      this.fail('annotation value');
      return null;
    }
    return [key, value];
  }

  connection() {
    const start = this.pos;
    const x = this.source();
    if (x) {
      this.ws0();
      if (this.lit('->')) {
        this.ws0();
        const y = this.connection();
        if (y) return x.concat(y);
      }
    }
    this.pos = start;
    return this.destination();
  }

  source() {
    return this.choice(() => this.bridge(), () => one(this.outport()), () => one(this.iip()));
  }

  destination() {
    return this.choice(() => one(this.inport()), () => this.bridge());
  }

  bridge() {
    const start = this.pos;
    const x = this.portSp();
    if (x) {
      const proc = this.node();
      if (proc !== null) {
        const y = this.spPort();
        if (y) return [{ tgt: this.makePort(proc, x, this.defaultIn) }, { src: this.makePort(proc, y, this.defaultOut) }];
      }
    }
    this.pos = start;
    const x2 = this.optional(() => this.portSp());
    const proc = this.nodeWithComponent();
    if (proc === null) {
      this.pos = start;
      return null;
    }
    const y2 = this.optional(() => this.spPort());
    return [{ tgt: this.makePort(proc, x2, this.defaultIn) }, { src: this.makePort(proc, y2, this.defaultOut) }];
  }

  outport() {
    const proc = this.node();
    if (proc === null) return null;
    return { src: this.makePort(proc, this.optional(() => this.spPort()), this.defaultOut) };
  }

  inport() {
    const x = this.optional(() => this.portSp());
    const proc = this.node();
    if (proc === null) return null;
    return { tgt: this.makePort(proc, x, this.defaultIn) };
  }

  makePort(process, port, def) {
    const out = { process, port: def.toLowerCase() };
    if (port) {
      out.port = port.name;
      if (port.index !== undefined) out.index = port.index;
    }
    return out;
  }

  iip() {
    const start = this.pos;
    if (this.lit("'")) {
      let s = '';
      while (this.pos < this.in.length) {
        const c = this.in[this.pos];
        if (c === '\\' && this.in[this.pos + 1] === "'") {
          s += "'";
          this.pos += 2;
          continue;
        }
        if (c === "'") break;
        s += c;
        this.pos++;
      }
      if (this.lit("'")) return { data: s, hasData: true };
    }
    this.pos = start;
    const v = this.jsonText();
    if (v === null) {
      this.pos = start;
      return null;
    }
    return { data: v.value, hasData: true };
  }

  node() {
    return this.choice(() => this.nodeNameAndComponent(), () => this.nodeName(), () => this.nodeComponent());
  }

  nodeWithComponent() {
    return this.choice(() => this.nodeNameAndComponent(), () => this.nodeComponent());
  }

  nodeName() {
    const first = this.cls((c) => isAlpha(c) || c === '_', 'node name');
    if (first === null) return null;
    return first + this.many((c) => isAlpha(c) || isDigit(c) || c === '_' || c === '-');
  }

  nodeNameAndComponent() {
    const name = this.nodeName();
    if (name === null) return null;
    const comp = this.component();
    if (!comp) return null;
    this.addNode(name, comp.name, comp.meta);
    return name;
  }

  nodeComponent() {
    const offset = this.pos;
    const comp = this.component();
    if (!comp) return null;
    if (this.anonNames.has(offset)) return this.anonNames.get(offset);
    const clean = comp.name.replace(/[^a-zA-Z0-9]+/, '_');
    const n = (this.anonIndex.get(clean) || 0) + 1;
    this.anonIndex.set(clean, n);
    const name = '_' + clean + '_' + n;
    this.anonNames.set(offset, name);
    this.addNode(name, comp.name, comp.meta);
    return name;
  }

  component() {
    if (!this.lit('(')) return null;
    const name = this.many((c) => isAlpha(c) || isDigit(c) || c === '/' || c === '-' || c === '_');
    let meta = null;
    const save = this.pos;
    if (this.lit(':')) {
      const m = this.many((c) => isAlpha(c) || isDigit(c) || c === '/' || c === '=' || c === '_' || c === ',');
      if (m !== '') meta = m;
      else {
        this.fail('component metadata');
        this.pos = save;
      }
    } else {
      this.pos = save;
    }
    if (!this.lit(')')) return null;
    return { name, meta };
  }

  addNode(name, comp, meta) {
    let n = this.nodes.get(name);
    if (!n) {
      n = { component: '', hasComp: false, metadata: null };
      this.nodes.set(name, n);
    }
    if (comp !== '') {
      n.component = comp;
      n.hasComp = true;
    }
    if (meta !== null) {
      const md = {};
      for (const item of meta.split(',')) {
        let parts = item.split('=');
        if (parts.length === 1) parts = ['routes', parts[0]];
        const value = parts[0] === 'x' || parts[0] === 'y' ? parseFloat(parts[1]) : parts[1];
        md[parts[0]] = Number.isNaN(value) ? null : value;
      }
      n.metadata = md;
    }
  }

  portName() {
    const first = this.cls((c) => isAlpha(c) || c === '_', 'port name');
    if (first === null) return null;
    return first + this.many((c) => isAlpha(c) || isDigit(c) || c === '.' || c === '_');
  }

  port() {
    const name = this.portName();
    if (name === null) return null;
    const r = { name: name.toLowerCase() };
    const save = this.pos;
    if (this.lit('[')) {
      const digits = this.many(isDigit);
      if (digits !== '' && this.lit(']')) {
        r.index = parseInt(digits, 10);
        return r;
      }
      if (digits === '') this.fail('port index');
    }
    this.pos = save;
    return r;
  }

  optional(rule) {
    return this.choice(rule) || undefined;
  }

  portSp() {
    const r = this.port();
    return r && this.ws1() ? r : null;
  }

  spPort() {
    return this.ws1() ? this.port() : null;
  }

  // JSON, as the grammar has it (RFC 7159); the value is JSON.parse's.
  jws() { this.many((c) => c === ' ' || c === '\t' || c === '\n' || c === '\r'); }

  // jsonText's value is its text, as written (compacted): packets are
  // bytes (rawjson.js).
  jsonText() {
    this.jws();
    const start = this.pos;
    if (!this.jsonValue()) return null;
    const text = this.in.slice(start, this.pos).join('');
    this.jws();
    return { value: new Raw(text) };
  }

  jsonValue() {
    return this.choice(() => this.lit('false'), () => this.lit('null'), () => this.lit('true'),
      () => this.jsonList('{', '}', () => this.jsonString() && this.sep(':') && this.jsonValue()),
      () => this.jsonList('[', ']', () => this.jsonValue()),
      () => this.jsonNumber(), () => this.jsonString());
  }

  sep(c) {
    this.jws();
    if (!this.lit(c)) return false;
    this.jws();
    return true;
  }

  jsonList(open, close, member) {
    if (!this.sep(open)) return false;
    const save = this.pos;
    if (member()) {
      for (;;) {
        const s = this.pos;
        if (!this.sep(',') || !member()) {
          this.pos = s;
          break;
        }
      }
    } else {
      this.pos = save;
    }
    return this.sep(close);
  }

  jsonNumber() {
    if (this.peek() === '-') this.pos++;
    if (this.peek() === '0') this.pos++;
    else if (this.peek() >= '1' && this.peek() <= '9') this.many(isDigit);
    else {
      this.fail('number');
      return false;
    }
    const optionalPart = (lead, sign) => {
      if (!lead(this.peek())) return;
      const s = this.pos;
      this.pos++;
      if (sign && (this.peek() === '+' || this.peek() === '-')) this.pos++;
      if (this.many(isDigit) === '') this.pos = s;
    };
    optionalPart((c) => c === '.', false);
    optionalPart((c) => c === 'e' || c === 'E', true);
    return true;
  }

  jsonString() {
    if (!this.lit('"')) return false;
    for (;;) {
      const c = this.peek();
      if (c === undefined) {
        this.fail('"\\""');
        return false;
      }
      if (c === '"') {
        this.pos++;
        return true;
      }
      if (c === '\\') {
        const e = this.in[this.pos + 1];
        this.pos += 2;
        if (e === 'u') {
          const hex = this.in.slice(this.pos, this.pos + 4).join('');
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
            this.fail('hex digit');
            return false;
          }
          this.pos += 4;
        } else if (e === undefined || !'"\\/bfnrt'.includes(e)) {
          this.fail('escape');
          return false;
        }
      } else if (c.codePointAt(0) < 0x20) {
        this.fail('string character');
        return false;
      } else {
        this.pos++;
      }
    }
  }

  syntaxError() {
    let line = 1, col = 1;
    for (let i = 0; i < this.failPos && i < this.in.length; i++) {
      const c = this.in[i];
      if (c === '\r' && this.in[i + 1] === '\n') continue;
      if (isNewline(c)) {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    const found = this.failPos < this.in.length ? JSON.stringify(this.in[this.failPos]) : 'end of input';
    const exp = [...new Set(this.expected)];
    const msg = exp.length ? 'expected ' + exp.join(', ') + ' but ' + found + ' found' : 'unexpected ' + found;
    return new FBPError('line ' + line + ', column ' + col + ': ' + msg);
  }

  // connections pairs sources with the targets after them, over the edge
  // parts of all lines.
  connections() {
    const out = [];
    const flats = this.edges;
    for (let i = 1; i < flats.length; i++) {
      const prev = flats[i - 1], cur = flats[i];
      if ((prev.src || prev.hasData) && cur.tgt) {
        out.push(prev.hasData ? { data: prev.data, tgt: cur.tgt } : { src: prev.src, tgt: cur.tgt });
        i++;
      }
    }
    return out;
  }

  result() {
    const conns = this.connections();
    for (const [name, n] of this.nodes) {
      if (!n.hasComp) throw new FBPError('Node "' + name + '" does not have a component defined');
    }
    for (const [pub, x] of this.inports) {
      if (!this.nodes.has(x.process)) throw new FBPError('Inport "' + pub + '" is connected to an undefined target node "' + x.process + '"');
    }
    for (const [pub, x] of this.outports) {
      if (!this.nodes.has(x.process)) throw new FBPError('Outport "' + pub + '" is connected to an undefined source node "' + x.process + '"');
    }
    for (const c of conns) {
      if (!this.nodes.has(c.tgt.process)) throw new FBPError('A connection goes to the undefined node "' + c.tgt.process + '"');
      if (c.src && !this.nodes.has(c.src.process)) throw new FBPError('A connection comes from the undefined node "' + c.src.process + '"');
    }
    const processes = {};
    for (const [name, n] of this.nodes) {
      processes[name] = n.metadata ? { component: n.component, metadata: n.metadata } : { component: n.component };
    }
    const res = {
      inports: Object.fromEntries(this.inports),
      outports: Object.fromEntries(this.outports),
      groups: [],
      processes,
      connections: conns,
      caseSensitive: false,
    };
    if (this.properties) res.properties = this.properties;
    return res;
  }
}

function one(part) {
  return part ? [part] : null;
}

// parse reads FBP source into the JSON graph format; it throws an FBPError
// naming the line and column of a syntax error.
export function parse(src) {
  return new Parser(String(src)).parse();
}

// serialize writes a graph (graph.js's model) as .fbp. The language has no
// place for what only the JSON format keeps (node positions and other
// metadata, groups); names it cannot write are an FBPError listing them.
export function serialize(g) {
  const problems = [];
  const name = (id) => {
    if (!nodeNameRE.test(id)) problems.push('node id "' + id + '" is not a name the language allows ([a-zA-Z_][a-zA-Z0-9_-]*)');
    return id;
  };
  const port = (p) => {
    if (!portNameRE.test(p)) problems.push('port "' + p + '" is not a port name the language allows');
    return p.toUpperCase();
  };
  const ref = (e) => port(e.port) + (e.index !== undefined ? '[' + e.index + ']' : '');
  const declared = new Set();
  const node = (id) => {
    if (declared.has(id)) return name(id);
    declared.add(id);
    const n = g.nodes.get(id);
    if (!componentRE.test(n.component) || n.component === '') problems.push('component "' + n.component + '" of node ' + id + ' is not a name the language allows');
    return name(id) + '(' + n.component + ')';
  };
  const lines = ['# Graph ' + g.id.replace(/[\r\n\u2028\u2029]/g, ' ')];
  for (const [pub, x] of g.inports) lines.push('INPORT=' + name(x.node) + '.' + port(x.port) + ':' + port(pub));
  for (const [pub, x] of g.outports) lines.push('OUTPORT=' + name(x.node) + '.' + port(x.port) + ':' + port(pub));
  for (const i of g.iips) lines.push(iipText(i.data, problems) + ' -> ' + ref(i.tgt) + ' ' + node(i.tgt.node));
  for (const e of g.edges.values()) lines.push(node(e.src.node) + ' ' + ref(e.src) + ' -> ' + ref(e.tgt) + ' ' + node(e.tgt.node));
  for (const id of g.nodes.keys()) if (!declared.has(id)) lines.push(node(id));
  if (problems.length) throw new FBPError('this graph cannot be written as .fbp (download it as .json): ' + [...new Set(problems)].join('; '));
  return lines.join('\n') + '\n';
}

// iipText writes initial data: a string as 'text' where the language reads
// it back to the same JSON text, anything else as its JSON text.
function iipText(data, problems) {
  const value = valueOf(data);
  const text = data instanceof Raw ? data.text : JSON.stringify(value === undefined ? null : value);
  if (typeof value === 'string' && JSON.stringify(value) === text && !/[\u0000-\u001f\u2028\u2029\ud800-\udfff]/.test(value) && !value.endsWith('\\')) {
    return "'" + value.replace(/'/g, "\\'") + "'";
  }
  if (value === true || value === false || value === null || value === undefined) {
    // The language reads true, false and null at the start of a line as
    // node names.
    problems.push('the initial packet ' + text + ' has no .fbp form');
  }
  return text;
}
