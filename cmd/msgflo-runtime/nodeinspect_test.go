package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// Setup's participant list is printed as Node prints it (msgflo-setup's
// console.log of an array): checked against node itself.
func TestNodeStringArrayIsNodes(t *testing.T) {
	t.Parallel()
	nodeDir(t) // node is there when the interop tests run
	lists := [][]string{
		{}, {"a"}, {"api", "worker"},
		{"a", "b", "c", "d", "e", "f"},
		{"a", "b", "c", "d", "e", "f", "g", "h"},
		{"averyveryverylongrolename1", "averyveryverylongrolename2", "averyveryverylongrolename3"},
		{"s_api", "s_worker", "s_drop", "imgflo_api", "imgflo_worker", "drop", "web", "fast", "slow", "myswitch", "mybulb"},
		{"x", "y", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "a", "b", "c", "d", "e"},
		{"r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23", "r24", "r25", "r26", "r27", "r28", "r29", "r30"},
		{"counter1234abcd", "counted1234abcd"},
		{"participant-one", "participant-two", "participant-three", "participant-four"},
	}
	for _, l := range lists {
		data, _ := json.Marshal(l)
		out, err := exec.Command("node", "-e", "console.log(require('util').inspect("+string(data)+"))").Output()
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSuffix(string(out), "\n")
		if got := nodeStringArray(l); got != want {
			t.Errorf("%v:\n ours:\n%s\nnode's:\n%s", l, got, want)
		}
	}
}
