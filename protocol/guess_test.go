package protocol

import (
	"net/http"
	"testing"
	"time"
)

// httpStatus is the status of GET path with the given headers.
func (h *harness) httpStatus(path string, header map[string]string) int {
	h.t.Helper()
	req, err := http.NewRequest("GET", "http://"+h.addr+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// #19 "Any web page can lock the user out": what a page can make the
// user's browser send spends no guesses. A secret in the URL (an <img>
// tag's GET) is not a secret at all, and a request with the Origin of a
// page not allowed is refused before its secret is looked at. Seen
// failing before both: the twelfth wrong guess made the right one 429.
func TestPagesCannotSpendTheGuesses(t *testing.T) {
	h := newHarness(t, withSecret("s3cret"), withMetrics(false), func(o *Options) {
		o.GuessBurst = 2
		o.GuessRefill = time.Hour
		o.GuessDelay = time.Millisecond
	})
	for _, path := range []string{"/metrics", "/status.json"} {
		for range 3 {
			if code := h.httpStatus(path+"?secret=guess", nil); code != http.StatusUnauthorized {
				t.Fatalf("%s?secret=guess: %d, want 401", path, code)
			}
			if code := h.httpStatus(path+"?secret=s3cret", nil); code != http.StatusUnauthorized {
				t.Fatalf("%s?secret=s3cret: %d, want 401 (never in the URL)", path, code)
			}
			foreign := map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer guess"}
			if code := h.httpStatus(path, foreign); code != http.StatusForbidden {
				t.Fatalf("%s from a foreign page: %d, want 403", path, code)
			}
		}
	}
	// None of that was a guess: the burst is intact.
	for range 2 {
		if code := h.httpStatus("/metrics", map[string]string{"Authorization": "Bearer guess"}); code != http.StatusUnauthorized {
			t.Fatalf("a wrong secret within the burst: %d, want 401", code)
		}
	}
	if code := h.httpStatus("/metrics", map[string]string{"Authorization": "Bearer guess"}); code != http.StatusTooManyRequests {
		t.Fatalf("a wrong secret beyond the burst: %d, want 429", code)
	}
	// The user's own pages and tools are served.
	local := map[string]string{"Origin": "http://localhost:3569", "Authorization": "Bearer s3cret"}
	if code := h.httpStatus("/status.json", local); code != http.StatusOK {
		t.Fatalf("/status.json from a local page with the secret: %d", code)
	}
}
