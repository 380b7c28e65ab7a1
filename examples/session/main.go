// Command session is the README's example session: it connects to a
// running msgflo-runtime, builds a two-node graph, starts it and prints
// every message the runtime sends back until the data has flowed.
//
//	go run ./examples/session 'https://app.flowhub.io/#runtime/endpoint?...'
//	MSGFLO_SECRET=... go run ./examples/session ws://localhost:3569
//
// The argument is the "Open in Flowhub" link the runtime prints (it holds
// the address and the secret), or a ws:// address with the secret in
// MSGFLO_SECRET.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// script is the session: one FBP protocol message per line.
var script = []string{
	`{"protocol":"runtime","command":"getruntime","payload":{}}`,
	`{"protocol":"graph","command":"clear","payload":{"id":"hello","main":true}}`,
	`{"protocol":"graph","command":"addnode","payload":{"id":"repeat","component":"core/Repeat","graph":"hello"}}`,
	`{"protocol":"graph","command":"addnode","payload":{"id":"show","component":"core/Output","graph":"hello"}}`,
	`{"protocol":"graph","command":"addedge","payload":{"src":{"node":"repeat","port":"out"},"tgt":{"node":"show","port":"in"},"graph":"hello"}}`,
	`{"protocol":"graph","command":"addinitial","payload":{"src":{"data":"Hello, world!"},"tgt":{"node":"repeat","port":"in"},"graph":"hello"}}`,
	`{"protocol":"network","command":"start","payload":{"graph":"hello"}}`,
}

// done is the last message the session waits for: the data on the edge.
const doneID = "repeat() OUT -> IN show()"

func main() {
	arg := "ws://localhost:3569"
	if len(os.Args) > 1 {
		arg = os.Args[1]
	}
	addr, secret, err := endpoint(arg, os.Getenv("MSGFLO_SECRET"))
	if err == nil {
		err = run(addr, secret)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "session:", err)
		os.Exit(1)
	}
}

// endpoint reads the address and the secret from a Flowhub link
// (.../#runtime/endpoint?protocol=websocket&address=...&secret=...), or
// takes arg as the address and the secret from the environment.
func endpoint(arg, envSecret string) (addr, secret string, err error) {
	if strings.HasPrefix(arg, "ws://") || strings.HasPrefix(arg, "wss://") {
		return arg, envSecret, nil
	}
	u, err := url.Parse(arg)
	if err != nil {
		return "", "", err
	}
	_, query, _ := strings.Cut(u.Fragment, "?")
	q, err := url.ParseQuery(query)
	if err != nil || q.Get("address") == "" {
		return "", "", errors.New("not a ws:// address or a Flowhub link with an address")
	}
	return q.Get("address"), q.Get("secret"), nil
}

func run(addr, secret string) error {
	// Every message carries the secret at the top level, as Flowhub sends
	// it.
	c, err := fbpclient.Dial(context.Background(), addr, fbpclient.Options{
		Secret:           secret,
		Placement:        fbpclient.SecretTopLevel,
		HandshakeTimeout: 5 * time.Second,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, line := range script {
		fmt.Println(">", line)
		var m fbpclient.Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return fmt.Errorf("script line %s: %w", line, err)
		}
		if err := c.Send(m.Protocol, m.Command, m.Payload); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return err
		}
		fmt.Println("<", m)
		var data struct {
			ID string `json:"id"`
		}
		if m.Is("network", "data") && m.Decode(&data) == nil && data.ID == doneID {
			return nil
		}
	}
}
