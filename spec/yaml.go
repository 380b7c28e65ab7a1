package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxAliasValues bounds the values a document's aliases add to it. Each
// alias is a copy of its anchor's value, so a few lines of aliases of
// aliases make billions of values ("billion laughs"); no suite needs more
// than a few.
const maxAliasValues = 1 << 20

// parseYAMLDocuments reads every document of a YAML stream (as js-yaml's
// safeLoadAll, which fbp-spec uses) into values.
func parseYAMLDocuments(data []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		v, err := (&yamlReader{}).value(&n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
}

// yamlReader reads one document's nodes into values.
type yamlReader struct {
	inAlias int // how deep in aliases the node being read is
	aliased int // values made inside aliases so far
}

// value turns a YAML node into a JSON value: mappings keep their order;
// timestamps become the ISO text JSON.stringify gives a Date.
func (r *yamlReader) value(n *yaml.Node) (any, error) {
	if r.inAlias > 0 {
		if r.aliased++; r.aliased > maxAliasValues {
			return nil, fmt.Errorf("line %d: the aliases make more than %d values", n.Line, maxAliasValues)
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return r.value(n.Content[0])
	case yaml.AliasNode:
		r.inAlias++
		defer func() { r.inAlias-- }()
		return r.value(n.Alias)
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := r.value(c)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		return list, nil
	case yaml.MappingNode:
		return r.mapping(n)
	case yaml.ScalarNode:
		return yamlScalar(n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func (r *yamlReader) mapping(n *yaml.Node) (any, error) {
	o := NewObject()
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			if err := r.mergeInto(o, v); err != nil {
				return nil, err
			}
			continue
		}
		kv, err := r.value(k)
		if err != nil {
			return nil, err
		}
		key := jsString(kv)
		if seen[key] {
			return nil, fmt.Errorf("line %d: duplicated mapping key %q", k.Line, key)
		}
		seen[key] = true
		val, err := r.value(v)
		if err != nil {
			return nil, err
		}
		o.Set(key, val)
	}
	return o, nil
}

// mergeInto applies a YAML merge key (<<: *anchor or a list of them): keys
// already set win.
func (r *yamlReader) mergeInto(o *Object, v *yaml.Node) error {
	sources := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		sources = v.Content
	}
	for _, s := range sources {
		m, err := r.value(s)
		if err != nil {
			return err
		}
		mo, ok := m.(*Object)
		if !ok {
			return fmt.Errorf("line %d: cannot merge a non-mapping", s.Line)
		}
		for _, k := range mo.Keys {
			if _, set := o.Get(k); !set {
				o.Set(k, mo.Values[k])
			}
		}
	}
	return nil
}

func yamlScalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int":
		return yamlInt(n)
	case "!!float":
		return yamlFloat(n)
	case "!!timestamp":
		var t time.Time
		if err := n.Decode(&t); err != nil {
			return n.Value, nil
		}
		return t.UTC().Format("2006-01-02T15:04:05.000Z"), nil
	}
	return n.Value, nil
}

func yamlInt(n *yaml.Node) (any, error) {
	s := strings.ReplaceAll(n.Value, "_", "")
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	base := 10
	switch {
	case strings.HasPrefix(s, "0x"):
		base, s = 16, s[2:]
	case strings.HasPrefix(s, "0o"):
		base, s = 8, s[2:]
	case strings.HasPrefix(s, "0b"):
		base, s = 2, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:] // YAML 1.1 octal, as js-yaml 3 reads it
	}
	u, err := strconv.ParseUint(s, base, 64)
	f := float64(u)
	if err != nil {
		if !isRangeError(err) {
			return nil, fmt.Errorf("line %d: bad integer %q", n.Line, n.Value)
		}
		f, _ = strconv.ParseFloat(s, 64)
	}
	if neg {
		f = -f
	}
	return f, nil
}

func yamlFloat(n *yaml.Node) (any, error) {
	s := strings.ReplaceAll(n.Value, "_", "")
	switch strings.ToLower(strings.TrimLeft(s, "+")) {
	case ".inf":
		return math.Inf(1), nil
	case "-.inf":
		return math.Inf(-1), nil
	case ".nan":
		return math.NaN(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeError(err) {
		return nil, fmt.Errorf("line %d: bad number %q", n.Line, n.Value)
	}
	return f, nil
}
