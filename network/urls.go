package network

import "strings"

// SplitURLs splits a broker setting into its URLs: several brokers (the
// nodes of a cluster) are given as one comma-separated list, tried in
// order. Blanks around the commas and empty entries are dropped.
func SplitURLs(raw string) []string {
	var out []string
	for _, u := range strings.Split(raw, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// NodeReporter is implemented by brokers given several URLs (the nodes of
// a cluster): ConnectedURL is the one whose connection is in use now (or
// was last, while reconnecting).
type NodeReporter interface {
	ConnectedURL() string
}

// NodeInUse is, for a broker given several URLs, the one in use (see
// NodeReporter); else the broker's URL. Credentials included: redact
// before showing it.
func NodeInUse(b Broker) string {
	if r, ok := b.(NodeReporter); ok && len(SplitURLs(b.URL())) > 1 {
		return r.ConnectedURL()
	}
	return b.URL()
}
