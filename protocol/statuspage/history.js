// Undo and redo of the user's own edits, per graph. An edit is recorded as
// the graph protocol commands that made it and those that take it back,
// both worked out from the graph as it was; undoing sends the second list,
// redoing the first again. Changes other clients make are never recorded,
// so Ctrl+Z takes back only what this user did.
'use strict';

const MAX_STEPS = 200;

export class History {
  constructor(send) {
    this.send = send; // (messages, step) => void; messages are [command, payload]
    this.byGraph = new Map();
    this.onchange = () => {};
  }

  stacks(graphID) {
    if (!this.byGraph.has(graphID)) this.byGraph.set(graphID, { undo: [], redo: [] });
    return this.byGraph.get(graphID);
  }

  // perform sends an edit's commands and records it.
  perform(graphID, label, forward, backward) {
    if (!forward.length) return;
    const step = { label, forward, backward };
    this.send(forward, step);
    const s = this.stacks(graphID);
    s.undo.push(step);
    if (s.undo.length > MAX_STEPS) s.undo.shift();
    s.redo = [];
    this.onchange();
  }

  undo(graphID) {
    const s = this.stacks(graphID);
    const step = s.undo.pop();
    if (!step) return null;
    this.send(step.backward, step);
    s.redo.push(step);
    this.onchange();
    return step.label;
  }

  redo(graphID) {
    const s = this.stacks(graphID);
    const step = s.redo.pop();
    if (!step) return null;
    this.send(step.forward, step);
    s.undo.push(step);
    this.onchange();
    return step.label;
  }

  // drop forgets a step the runtime refused (or part of it): it cannot be
  // undone or made again as recorded.
  drop(step) {
    for (const s of this.byGraph.values()) {
      s.undo = s.undo.filter((x) => x !== step);
      s.redo = s.redo.filter((x) => x !== step);
    }
    this.onchange();
  }

  peek(graphID) {
    const s = this.stacks(graphID);
    return { undo: s.undo[s.undo.length - 1], redo: s.redo[s.redo.length - 1] };
  }
}
