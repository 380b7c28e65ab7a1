package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/msgflo/msgflo-runtime/graph"
)

// Persistence of the main graph to its file (--graph with --auto-save, and
// network:persist). Saves are group commits: an edit to the main graph is
// acknowledged to clients only once a save that includes it is on disk,
// and edits made while a save is being written are saved together by the
// next one. A save writes a temporary file, syncs it and renames it over
// the graph file, so the file is always either the old or the new graph.
type persister struct {
	path string
	rt   *Runtime

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []pendingSave
	next    uint64 // version of the next snapshot
	done    uint64 // every version up to this one is settled
	lastErr error
	closed  bool
}

type pendingSave struct {
	version  uint64
	snapshot []byte // nil: nothing to write, only events to release in order
	events   []Event
}

func newPersister(rt *Runtime, path string) *persister {
	p := &persister{path: path, rt: rt, next: 1}
	p.cond = sync.NewCond(&p.mu)
	go p.loop()
	return p
}

// enqueue adds a snapshot (or nil) and the events that wait for it; the
// caller holds the runtime's lock, so versions follow the order of edits.
func (p *persister) enqueue(snapshot []byte, events []Event) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := p.next
	p.next++
	p.queue = append(p.queue, pendingSave{version: v, snapshot: snapshot, events: events})
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

		var snapshot []byte
		for _, s := range batch {
			if s.snapshot != nil {
				snapshot = s.snapshot // the latest state covers the earlier ones
			}
		}
		var err error
		if snapshot != nil {
			err = writeAtomic(p.path, snapshot)
			p.rt.opts.Metrics.Autosave(err)
			if err != nil {
				p.rt.log.Error().Err(err).Str("file", p.path).Msg("saving the graph failed")
			}
		}
		p.rt.mu.Lock()
		for _, s := range batch {
			for _, ev := range s.events {
				p.rt.sink.Broadcast(ev)
			}
		}
		if err != nil {
			p.rt.sink.Broadcast(Event{Protocol: "network", Command: "error", Payload: NetworkErrorPayload{
				Message: fmt.Sprintf("Could not save the graph to %s: %v", p.path, err), Graph: p.rt.mainGraph,
			}})
		}
		p.rt.mu.Unlock()
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

// snapshotLocked is the main graph as saved: indented, deterministic JSON.
func (r *Runtime) snapshotLocked() []byte {
	gs, ok := r.graphs[r.mainGraph]
	if !ok {
		return nil
	}
	data, err := graphJSON(gs.g, "  ")
	if err != nil {
		r.log.Error().Err(err).Msg("cannot serialise the main graph")
		return nil
	}
	return append(data, '\n')
}

// MainGraph is the id of the main graph, or "".
func (r *Runtime) MainGraph() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mainGraph
}

// Persist writes the main graph to its file now (network:persist).
func (r *Runtime) Persist() error {
	r.mu.Lock()
	if r.persist == nil {
		r.mu.Unlock()
		return fmt.Errorf("network:persist needs a graph file (--graph); none is configured")
	}
	snap := r.snapshotLocked()
	if snap == nil {
		r.mu.Unlock()
		return fmt.Errorf("there is no main graph to persist")
	}
	v := r.persist.enqueue(snap, nil)
	r.mu.Unlock()
	return r.persist.wait(v)
}

// graphJSON is g in the JSON graph format, compact or indented with
// indent. (json.Marshal would escape <, > and & in the IIPs' data.)
func graphJSON(g *graph.Graph, indent string) ([]byte, error) {
	data, err := g.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if indent == "" {
		err = json.Compact(&buf, data)
	} else {
		err = json.Indent(&buf, data, "", indent)
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
