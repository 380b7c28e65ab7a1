package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/msgflo/msgflo-runtime/graph"
)

// loadGraphFile reads a graph file: the JSON graph format when its content
// is a JSON object (whatever the file is called: auto-save writes JSON back
// into the file it loaded), else the FBP language. The graph's id is the
// file's name without its extension.
func loadGraphFile(path string) (*graph.Graph, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("graph %s: %w", path, err)
	}
	id := graphFileID(path)
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		g := &graph.Graph{}
		if err := g.UnmarshalJSON(data); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				line, col := lineCol(data, int(se.Offset))
				return nil, fmt.Errorf("graph %s: line %d, column %d: %v", path, line, col, se)
			}
			return nil, fmt.Errorf("graph %s: %w", path, err)
		}
		g.ID = id
		return g, nil
	}
	g, err := graph.LoadFBP(id, string(data))
	if err != nil {
		return nil, fmt.Errorf("graph %s: %w", path, err)
	}
	return g, nil
}

// graphFileID is the id of the graph in a file: its name without extension.
func graphFileID(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

func lineCol(data []byte, offset int) (int, int) {
	line, col := 1, 1
	for i := 0; i < offset && i < len(data); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// listFlag collects a flag given several times and/or comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}
