package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Persistence of the main graph to its file (--graph with --auto-save, and
// network:persist). Saves are group commits: an edit to the main graph is
// acknowledged to clients only once a save that includes it is on disk,
// and edits made while a save is being written are saved together by the
// next one. An edit only marks the main graph for saving (O(1) under the
// runtime's lock); the saver serialises the graph once for every edit
// waiting, then writes it outside the lock, so a write never holds up
// edits. A save writes a temporary file, syncs it and renames it over the
// graph file, so the file is always either the old or the new graph.
type persister struct {
	path string
	rt   *Graphs

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []pendingSave
	next    uint64 // version of the next snapshot
	done    uint64 // every version up to this one is settled
	lastErr error
	closed  bool
}

type pendingSave struct {
	version uint64
	save    bool // false: nothing to write, only events to release in order
	events  []Event
}

func newPersister(rt *Graphs, path string) *persister {
	p := &persister{path: path, rt: rt, next: 1}
	p.cond = sync.NewCond(&p.mu)
	go p.loop()
	return p
}

// enqueue asks for a save of the main graph as it is now (or for none) and
// adds the events that wait for it; the caller holds the runtime's lock, so
// versions follow the order of edits, and the save, made from the graph as
// it is when the saver takes the lock next, includes this edit.
func (p *persister) enqueue(save bool, events []Event) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.next
	p.next++
	p.queue = append(p.queue, pendingSave{version: v, save: save, events: events})
	p.cond.Broadcast()
	return v
}

// wait blocks until version v is settled and returns the error of the save
// that covered it.
func (p *persister) wait(v uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.done < v && !p.closed {
		p.cond.Wait()
	}
	if p.closed && p.done < v {
		return fmt.Errorf("runtime stopped before the graph was saved")
	}
	return p.lastErr
}

func (p *persister) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *persister) loop() {
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			p.mu.Unlock()
			return
		}
		batch := p.queue
		p.queue = nil
		p.mu.Unlock()

		// One snapshot, taken now, covers every edit of the batch (and
		// perhaps later ones, which are saved again with their own batch).
		var snapshot []byte
		if slices.ContainsFunc(batch, func(s pendingSave) bool { return s.save }) {
			p.rt.mu.Lock()
			snapshot = p.rt.snapshotLocked()
			p.rt.mu.Unlock()
		}
		var err error
		if snapshot != nil {
			// Indented outside the runtime's lock.
			if snapshot, err = graphFileText(snapshot); err == nil {
				err = writeAtomic(p.path, snapshot)
			}
			p.rt.opts.Metrics.Autosave(err)
			if err != nil {
				p.rt.log.Error().Err(err).Str("file", p.path).Msg("saving the graph failed")
			}
		}
		p.rt.mu.Lock()
		for _, s := range batch {
			p.rt.events.pushAll(s.events)
		}
		if err != nil {
			p.rt.problems.emit(nil, problem{graph: p.rt.mainGraph, message: fmt.Sprintf("Could not save the graph to %s: %v", p.path, err)})
		}
		p.rt.mu.Unlock()
		p.rt.events.flush()
		p.mu.Lock()
		p.done = batch[len(batch)-1].version
		p.lastErr = err
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// writeAtomic replaces path with data: temporary file, fsync, rename,
// fsync of the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if info, err := os.Stat(path); err == nil {
		_ = os.Chmod(name, info.Mode().Perm())
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// snapshotLocked is the main graph's deterministic, compact JSON (nil
// without one); graphFileText makes the file's text of it. It is
// Graph.MarshalJSON's: json.Marshal would escape <, > and & in the IIPs'
// data.
func (r *Graphs) snapshotLocked() []byte {
	gs, ok := r.graphs[r.mainGraph]
	if !ok {
		return nil
	}
	data, err := gs.g.MarshalJSON()
	if err != nil {
		r.log.Error().Err(err).Msg("cannot serialise the main graph")
		return nil
	}
	return data
}

// graphFileText is a graph's JSON as the graph file holds it: indented,
// ending with a newline.
func graphFileText(compact []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, compact, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// MainGraph is the id of the main graph, or "".
func (r *Graphs) MainGraph() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mainGraph
}

// Persist writes the main graph to its file now (network:persist).
func (r *Graphs) Persist() error {
	r.mu.Lock()
	if r.persist == nil {
		r.mu.Unlock()
		return fmt.Errorf("network:persist needs a graph file (--graph); none is configured")
	}
	if _, ok := r.graphs[r.mainGraph]; !ok {
		r.mu.Unlock()
		return fmt.Errorf("there is no main graph to persist")
	}
	v := r.persist.enqueue(true, nil)
	r.mu.Unlock()
	return r.persist.wait(v)
}
