package protocol

import (
	"strings"
	"testing"
)

// Every message's schema compiles. The validator compiles a schema the
// first time a message of its kind is checked, so a broken schema file
// would otherwise show only when a client sends that message.
func TestEverySchemaCompiles(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.known) < 50 {
		t.Fatalf("only %d messages with a schema", len(v.known))
	}
	for key := range v.known {
		dir, name, _ := strings.Cut(key, ":")
		protocol, command, _ := strings.Cut(name, ":")
		s, err := v.schema(dir, protocol, command)
		if err != nil || s == nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	if s, err := v.schema("input", "runtime", "nonsense"); s != nil || err != nil {
		t.Errorf("a message without a schema: %v, %v", s, err)
	}
}
