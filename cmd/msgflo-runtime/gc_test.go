package main

import "testing"

// The runtime server collects garbage at GOGC 75 unless the environment
// says otherwise (gc.go).
func TestGCPercentDefaultsUnlessGOGCIsSet(t *testing.T) {
	env := func(gogc string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return gogc
			}
			return ""
		}
	}
	if p, set := gcPercent(env("")); !set || p != 75 {
		t.Fatalf("without GOGC: %d, %v; want 75", p, set)
	}
	for _, v := range []string{"100", "off", "200"} {
		if _, set := gcPercent(env(v)); set {
			t.Fatalf("GOGC=%s overridden", v)
		}
	}
}
