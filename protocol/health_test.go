package protocol

import (
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// getStatus fetches a path of the harness's HTTP server.
func (h *harness) getStatus(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Get("http://" + h.addr + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// waitStatus polls path until it answers code (the runtime wires its
// graphs in the background after Run starts), failing after waitLimit.
func (h *harness) waitStatus(path string, code int) string {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got, body := h.getStatus(path)
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("GET %s answered %d %q for %s, want %d", path, got, body, waitLimit, code)
		}
		time.Sleep(10 * time.Millisecond) // polling pace, not synchronisation
	}
}

// /healthz answers while the process serves; /readyz fails while the
// broker connection is lost (a fault proxy cuts it and refuses new
// connections) and recovers once it is back. Both tell nothing but ok or
// not. The runtime reports the outage and the recovery to clients after
// its readiness changed, so each check right after the event is exact.
func TestHealthThroughBrokerOutage(t *testing.T) {
	for _, bk := range []struct {
		name string
		url  func(t testing.TB) string
	}{
		{"amqp", brokertest.RabbitMQURL},
		{"mqtt", brokertest.MosquittoURL},
	} {
		t.Run(bk.name, func(t *testing.T) {
			u, err := url.Parse(bk.url(t))
			if err != nil {
				t.Fatal(err)
			}
			proxy := brokertest.NewProxy(t, u.Host)
			u.Host = proxy.Addr()
			h := newHarnessOn(t, u.String(), 0)
			t.Cleanup(proxy.Unblock) // before the runtime stops, even on failure
			c := h.connect()

			if code, body := h.getStatus("/healthz"); code != http.StatusOK || body != "ok\n" {
				t.Fatalf("/healthz: %d %q", code, body)
			}
			if body := h.waitStatus("/readyz", http.StatusOK); body != "ready\n" {
				t.Fatalf("/readyz body %q", body)
			}

			proxy.Block()
			proxy.Cut()
			c.waitFor("network", "error", nil)
			if code, body := h.getStatus("/readyz"); code != http.StatusServiceUnavailable || body != "not ready\n" {
				t.Fatalf("/readyz during the outage: %d %q", code, body)
			}
			if code, body := h.getStatus("/healthz"); code != http.StatusOK || body != "ok\n" {
				t.Fatalf("/healthz during the outage: %d %q", code, body)
			}

			proxy.Unblock()
			c.waitFor("network", "output", nil)
			if code, body := h.getStatus("/readyz"); code != http.StatusOK || body != "ready\n" {
				t.Fatalf("/readyz after the outage: %d %q", code, body)
			}
		})
	}
}

// Every HTTP answer, the page's and the data's as well as the health
// checks', stays out of caches and is not sniffed into another type.
func TestHTTPAnswersAreNotCached(t *testing.T) {
	h := newHarness(t, withSecret("s3cret"))
	for _, path := range []string{"/", "/status/status.js", "/status.json", healthzPath, readyzPath, "/status.json?secret=s3cret"} {
		resp, err := http.Get("http://" + h.addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if cc, ns := resp.Header.Get("Cache-Control"), resp.Header.Get("X-Content-Type-Options"); cc != "no-store" || ns != "nosniff" {
			t.Errorf("GET %s (%d): Cache-Control %q, X-Content-Type-Options %q", path, resp.StatusCode, cc, ns)
		}
	}
}
