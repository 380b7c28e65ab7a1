package participant

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// CoreComponents are the components every runtime has built in.
func CoreComponents() []Component {
	return []Component{
		{
			Name:        "core/Repeat",
			Label:       "Repeats the data it receives",
			Description: "Sends every message it receives on in, unchanged, to out",
			Icon:        "forward",
			Inports:     []Port{{ID: "in", Type: "any", Description: "Data to repeat"}},
			Outports:    []Port{{ID: "out", Type: "any", Description: "The same data"}},
			Process: func(_ context.Context, in Input, out Output) error {
				return out.Send("out", in.Data)
			},
		},
		{
			Name:        "core/Drop",
			Label:       "Drops the data it receives",
			Description: "Acknowledges and forgets every message",
			Icon:        "trash-o",
			Inports:     []Port{{ID: "in", Type: "any", Description: "Data to drop"}},
			Outports:    []Port{},
			Process:     func(context.Context, Input, Output) error { return nil },
		},
		{
			Name:        "core/Output",
			Label:       "Logs the data it receives and passes it on",
			Description: "Writes every message to the log, then sends it to out",
			Icon:        "terminal",
			Inports:     []Port{{ID: "in", Type: "any", Description: "Data to log"}},
			Outports:    []Port{{ID: "out", Type: "any", Description: "The same data"}},
			Process: func(ctx context.Context, in Input, out Output) error {
				zerolog.Ctx(ctx).Info().RawJSON("data", in.Data).Msg("output")
				return out.Send("out", in.Data)
			},
		},
		{
			Name:        "core/Counter",
			Label:       "Counts the messages it receives",
			Description: "Sends the number of messages received so far (1, 2, ...) to count for every message on in",
			Icon:        "sort-numeric-asc",
			Inports:     []Port{{ID: "in", Type: "any", Description: "Messages to count"}},
			Outports:    []Port{{ID: "count", Type: "integer", Description: "How many messages came so far"}},
			Init:        counter,
		},
		{
			Name:        "core/Pick",
			Label:       "Picks a field out of JSON objects",
			Description: "Sends the value at path (dot-separated keys and array indexes, set on the path port) of every object on in to out; messages without it go to missing",
			Icon:        "filter",
			Inports: []Port{
				{ID: "in", Type: "object", Description: "Objects to pick from"},
				{ID: "path", Type: "string", Description: `Where the value is, e.g. "user.address.0.city"`},
			},
			Outports: []Port{
				{ID: "out", Type: "any", Description: "The value found"},
				{ID: "missing", Type: "any", Description: "Messages that have no value at path"},
			},
			Init: picker,
		},
		{
			Name:        "core/Delay",
			Label:       "Delays messages",
			Description: "Sends every message on in to out after the delay (milliseconds, set on the delay port; default 1000)",
			Icon:        "clock-o",
			Inports: []Port{
				{ID: "in", Type: "any", Description: "Messages to delay"},
				{ID: "delay", Type: "number", Description: "Delay in milliseconds"},
			},
			Outports: []Port{{ID: "out", Type: "any", Description: "The same messages, later"}},
			Init:     delayer,
		},
	}
}

// counter counts, per instance.
func counter() ProcessFunc {
	var mu sync.Mutex
	n := 0
	return func(_ context.Context, _ Input, out Output) error {
		mu.Lock()
		n++
		v := n
		mu.Unlock()
		return out.Send("count", json.RawMessage(strconv.Itoa(v)))
	}
}

func picker() ProcessFunc {
	var mu sync.Mutex
	var path []string
	return func(_ context.Context, in Input, out Output) error {
		if in.Port == "path" {
			var p string
			if err := json.Unmarshal(in.Data, &p); err != nil {
				return fmt.Errorf("path must be a string: %w", err)
			}
			mu.Lock()
			path = nil
			if p != "" {
				path = strings.Split(p, ".")
			}
			mu.Unlock()
			return nil
		}
		mu.Lock()
		keys := path
		mu.Unlock()
		// Walk the raw JSON: the value picked keeps its bytes.
		v := in.Data
		for _, k := range keys {
			var obj map[string]json.RawMessage
			var arr []json.RawMessage
			switch {
			case json.Unmarshal(v, &obj) == nil && obj != nil:
				var ok bool
				if v, ok = obj[k]; !ok {
					return out.Send("missing", in.Data)
				}
			case json.Unmarshal(v, &arr) == nil && arr != nil:
				i, err := strconv.Atoi(k)
				if err != nil || i < 0 || i >= len(arr) {
					return out.Send("missing", in.Data)
				}
				v = arr[i]
			default:
				return out.Send("missing", in.Data)
			}
		}
		return out.Send("out", v)
	}
}

func delayer() ProcessFunc {
	var mu sync.Mutex
	delay := time.Second
	return func(ctx context.Context, in Input, out Output) error {
		if in.Port == "delay" {
			var ms float64
			if err := json.Unmarshal(in.Data, &ms); err != nil || ms < 0 {
				return fmt.Errorf("delay must be a number of milliseconds >= 0")
			}
			mu.Lock()
			delay = time.Duration(ms * float64(time.Millisecond))
			mu.Unlock()
			return nil
		}
		mu.Lock()
		d := delay
		mu.Unlock()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		return out.Send("out", in.Data)
	}
}

// LookupCore finds a core component by name.
func LookupCore(name string) (Component, bool) {
	for _, c := range CoreComponents() {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// CoreNames lists the core components' names, sorted.
func CoreNames() []string {
	var out []string
	for _, c := range CoreComponents() {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}
