package protocol

import (
	"net/url"
	"strings"
)

// DefaultIDE is Flowhub, whose pages may connect by default.
const DefaultIDE = "https://app.flowhub.io"

// originPolicy decides which web pages may open a connection: a page of
// any site the user visits could otherwise drive the runtime from the
// user's browser.
type originPolicy struct {
	any      bool            // "*": any origin but "null"
	exact    map[string]bool // lower-case origins
	loopback bool            // http(s)://localhost, 127.0.0.1, [::1] on any port
}

// newOriginPolicy builds the policy from --allow-origin's list; an empty
// list means the IDE's origin, the runtime's own status page (at its
// ws:// address) and local pages.
func newOriginPolicy(allowed []string, ide, address string) originPolicy {
	p := originPolicy{exact: map[string]bool{}}
	if len(allowed) == 0 {
		if ide == "" {
			ide = DefaultIDE
		}
		for _, page := range []string{ide, StatusPageURL(address, "")} {
			if o := originOf(page); o != "" {
				p.exact[o] = true
			}
		}
		p.loopback = true
		return p
	}
	for _, o := range allowed {
		if o == "*" {
			p.any = true
			continue
		}
		p.exact[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	return p
}

// originOf is the origin (scheme://host[:port]) of a URL, lower case.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

func (p originPolicy) allows(origin string) bool {
	o := strings.ToLower(origin)
	if p.exact[o] {
		return true // an explicit "null" too
	}
	if o == "null" {
		return false // sandboxed frames, file:// pages, redirects: no page to trust
	}
	if p.any {
		return true
	}
	if p.loopback {
		u, err := url.Parse(o)
		if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Path == "" && u.User == nil {
			switch u.Hostname() {
			case "localhost", "127.0.0.1", "::1":
				return true
			}
		}
	}
	return false
}
