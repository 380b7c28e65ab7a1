package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
)

// #19 "Broker-fed maps never shrink": what the runtime keeps because of
// announcements goes when the participants expire. Any broker client
// announces 100 participants of distinct roles and components (heartbeat
// 0.5 s: gone 1.5 s after their only announcement); once the live graph
// has shown them and taken them out again, neither the status page lists
// them (as expired participants) nor the component list has their
// components. Seen failing on the binary of main: both kept every one.
func TestTrustBrokerFedStateShrinks(t *testing.T) {
	eachTrustBroker(t, func(t *testing.T, bk trustBroker) {
		s := uuid.New()[:8]
		p := start(t, bk.env(), "--port", "0")
		ws, ready := p.ready(t)
		c := openMainGraphAsFlowhub(t, ws, "default/main")
		b := bk.dial(t, ready)
		const n = 100
		shown := map[string]bool{}
		for i := range n {
			role := fmt.Sprintf("passing%s_%d", s, i)
			shown[role] = true
			publishRaw(t, b, `{"protocol":"discovery","command":"participant","payload":{"id":"`+role+`-1","role":"`+role+
				`","component":"ext/Passing`+s+fmt.Sprint(i)+`","heartbeat":0.5,"inports":[{"id":"in","queue":"`+role+`.IN"}],"outports":[]}}`)
		}
		// Each is shown, then taken out once it expired.
		for left := n; left > 0; {
			m := c.next()
			p, _ := m["payload"].(map[string]any)
			if m["protocol"] == "graph" && m["command"] == "removenode" && shown[fmt.Sprint(p["id"])] {
				left--
			}
		}
		for _, pt := range participantsOf(t, ws).Participants {
			if strings.HasPrefix(pt.Role, "passing"+s) {
				t.Errorf("the status page still lists %+v", pt)
			}
		}
		c.flowhubSend("component", "list", map[string]any{"secret": testSecret})
		for {
			m := c.next()
			if m["protocol"] == "component" && m["command"] == "componentsready" {
				break
			}
			if m["protocol"] == "component" && m["command"] == "component" {
				if name := m["payload"].(map[string]any)["name"]; strings.HasPrefix(fmt.Sprint(name), "ext/Passing"+s) {
					raw, _ := json.Marshal(m)
					t.Errorf("the component list still has %s", raw)
				}
			}
		}
	})
}
