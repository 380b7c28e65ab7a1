// The library palette: the runtime's components (component:list, and each
// component:component as participants are discovered), searchable by
// name, description and port. Click one (or Enter) to add a node where the
// canvas is looking, or drag it onto the canvas.
'use strict';

import { el, clip } from './dom.js';

const DRAG_SLOP = 6;

export class Palette {
  constructor(root, state, actions) {
    this.state = state;
    this.actions = actions;
    this.search = root.querySelector('input');
    this.list = root.querySelector('ul');
    this.search.addEventListener('input', () => this.render());
    this.search.addEventListener('keydown', (ev) => {
      const first = this.list.querySelector('li.component');
      if (ev.key === 'Enter' && first) {
        ev.preventDefault();
        this.actions.addComponent(first.dataset.component);
      } else if (ev.key === 'ArrowDown' && first) {
        ev.preventDefault();
        first.focus();
      } else if (ev.key === 'Escape') {
        this.search.value = '';
        this.render();
        this.actions.focusCanvas();
      }
    });
    this.list.addEventListener('keydown', (ev) => this.onKey(ev));
    this.list.addEventListener('click', (ev) => {
      const li = ev.target.closest('li.component');
      if (li && !this.dragged) this.actions.addComponent(li.dataset.component);
      this.dragged = false;
    });
    this.list.addEventListener('pointerdown', (ev) => this.startDrag(ev));
  }

  onKey(ev) {
    const li = ev.target.closest('li.component');
    if (!li) return;
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      this.actions.addComponent(li.dataset.component);
    } else if (ev.key === 'ArrowDown' && li.nextElementSibling) {
      ev.preventDefault();
      li.nextElementSibling.focus();
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      (li.previousElementSibling || this.search).focus();
    } else if (ev.key === 'Escape') {
      this.actions.focusCanvas();
    }
  }

  // startDrag follows a pointer pressed on a component: moved past the
  // slop it drags a ghost, and dropped on the canvas it adds a node there.
  startDrag(ev) {
    const li = ev.target.closest('li.component');
    if (!li || ev.button !== 0) return;
    const name = li.dataset.component;
    const x0 = ev.clientX, y0 = ev.clientY;
    let ghost = null;
    li.setPointerCapture(ev.pointerId);
    const move = (e) => {
      if (!ghost && Math.hypot(e.clientX - x0, e.clientY - y0) < DRAG_SLOP) return;
      if (!ghost) {
        ghost = el('div', { class: 'drag-ghost' }, name);
        document.body.append(ghost);
      }
      ghost.style.left = e.clientX + 8 + 'px';
      ghost.style.top = e.clientY + 8 + 'px';
    };
    const up = (e) => {
      li.removeEventListener('pointermove', move);
      li.removeEventListener('pointerup', up);
      li.removeEventListener('pointercancel', up);
      if (!ghost) return;
      ghost.remove();
      this.dragged = true;
      const under = document.elementFromPoint(e.clientX, e.clientY);
      if (under && under.closest('svg.canvas')) this.actions.addComponent(name, { clientX: e.clientX, clientY: e.clientY });
    };
    li.addEventListener('pointermove', move);
    li.addEventListener('pointerup', up);
    li.addEventListener('pointercancel', up);
  }

  // render lists the components again when they or the search changed.
  render() {
    const sig = this.search.value + '\n' + this.state.componentsVersion;
    if (sig === this.shown) return;
    this.shown = sig;
    const words = this.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const items = [];
    for (const c of [...this.state.components.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const ports = portsText(c);
      const hay = (c.name + ' ' + (c.description || '') + ' ' + ports).toLowerCase();
      if (!words.every((w) => hay.includes(w))) continue;
      items.push(el('li', { class: 'component', 'data-component': c.name, tabindex: 0, role: 'option', title: 'Click or Enter to add, or drag onto the canvas' },
        el('div', { class: 'name' }, c.name),
        c.description ? el('div', { class: 'description' }, clip(c.description, 140)) : null,
        el('div', { class: 'ports' }, ports)));
    }
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('#palette li');
    const again = focused ? focused.dataset.component : null;
    this.list.replaceChildren(...items);
    if (!items.length) this.list.append(el('li', { class: 'empty' }, this.state.components.size ? 'No component matches.' : 'No components yet.'));
    if (again !== null) {
      const li = items.find((x) => x.dataset.component === again);
      if (li) li.focus();
    }
  }
}

function portsText(c) {
  const list = (ports) => (ports || []).map((p) => p.id + (p.addressable ? '[]' : '') + (p.type && p.type !== 'any' ? ' (' + p.type + ')' : '')).join(', ') || '—';
  return 'in: ' + list(c.inPorts) + ' · out: ' + list(c.outPorts);
}
