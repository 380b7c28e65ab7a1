// Small DOM helpers shared by the editor's modules. Text is always set as
// text, never parsed as markup: node ids, port names, descriptions and
// packets come from other clients and participants.
'use strict';

import { stringify } from './rawjson.js';

export const SVG_NS = 'http://www.w3.org/2000/svg';

export const $ = (id) => document.getElementById(id);

// el and svgEl make elements with attributes and children. An attribute
// whose value is undefined or false is left out; an 'on' attribute is an
// object of event listeners.
export function el(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function svgEl(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    } else if (v !== undefined && v !== false && v !== null) {
      node.setAttribute(k, v === true ? '' : v);
    }
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// clip shortens text to n characters with an ellipsis.
export function clip(text, n) {
  text = String(text);
  return text.length > n ? text.slice(0, n - 1) + '…' : text;
}

// duration writes seconds as "1d 2h 3m 4s", leaving out leading zeros.
export function duration(seconds) {
  let s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
}

// json writes a value compactly for display, a packet as its own text.
export function json(v) {
  if (v === undefined) return 'undefined';
  try { return stringify(v); } catch (e) { return String(v); }
}

// download offers text as a file.
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
