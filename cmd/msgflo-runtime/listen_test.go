package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// selfSigned writes a certificate for localhost and 127.0.0.1 and its key
// into dir and returns their files and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	cert, pool := brokertest.SelfSigned(t, "msgflo-runtime test")
	der := cert.Certificate[0]
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--tls-cert", certFile, "--tls-key", keyFile)
	ws, _ := p.ready(t)
	if !strings.HasPrefix(ws, "wss://localhost:") {
		t.Fatalf("address %q, want wss://localhost:PORT", ws)
	}
	if link := p.flowhubLink(t); !strings.Contains(link, "address=wss%3A%2F%2Flocalhost%3A") {
		t.Fatalf("Flowhub link %q", link)
	}
	d := websocket.Dialer{Subprotocols: []string{"noflo"}, HandshakeTimeout: 10 * time.Second, TLSClientConfig: &tls.Config{RootCAs: pool}}
	conn, _, err := d.Dial(ws, nil)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer conn.Close()
	// A raw connection: fbpclient has no TLS settings.
	if err := conn.WriteJSON(map[string]any{"protocol": "runtime", "command": "getruntime", "payload": map[string]any{}, "secret": testSecret}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var reply map[string]any
	if err := conn.ReadJSON(&reply); err != nil {
		t.Fatalf("no reply over wss: %v", err)
	}
	if caps := capabilitiesOf(t, reply); len(caps) < 5 {
		t.Fatalf("capabilities over wss with the secret: %v", caps)
	}
	// Plain WebSocket and untrusted certificates get nowhere.
	if _, _, err := dialWS(t, "ws://"+strings.TrimPrefix(ws, "wss://"), nil); err == nil {
		t.Fatal("plain ws:// connection to the TLS port succeeded")
	}
	untrusting := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	if c, _, err := untrusting.Dial(ws, nil); err == nil {
		c.Close()
		t.Fatal("connection without trusting the certificate succeeded")
	}
	p.signalAndWait(t, syscall.SIGTERM)
}

// --listen is where the runtime listens, --host what it tells clients.
func TestListenAndHost(t *testing.T) {
	t.Parallel()
	hostname, _ := os.Hostname()
	if hostname == "" {
		hostname = "localhost"
	}
	for _, tc := range []struct {
		args     []string
		wantHost string
	}{
		{[]string{"--listen", "127.0.0.1", "--host", "runtime.example.com"}, "runtime.example.com"},
		{[]string{"--listen", "0.0.0.0", "--host", "runtime.example.com"}, "runtime.example.com"},
		{[]string{"--host", "0.0.0.0"}, hostname},
		{[]string{"--host", "::"}, hostname},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			p := start(t, []string{"MSGFLO_BROKER="}, append([]string{"--port", "0"}, tc.args...)...)
			ws, _ := p.ready(t)
			u, err := url.Parse(ws)
			if err != nil || u.Scheme != "ws" || u.Hostname() != tc.wantHost {
				t.Fatalf("advertised %q, want ws://%s:PORT", ws, tc.wantHost)
			}
			if link := p.flowhubLink(t); !strings.Contains(link, url.QueryEscape(ws)) {
				t.Fatalf("Flowhub link %q does not give %s", link, ws)
			}
			local := "ws://127.0.0.1:" + u.Port()
			if tc.args[1] == "::" {
				local = "ws://[::1]:" + u.Port()
			}
			getruntime(t, local)
		})
	}
}

func TestBadTLSFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, _, _ := selfSigned(t, dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", certFile}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", certFile, "--tls-key", filepath.Join(dir, "absent.pem")}, "--tls-cert/--tls-key"},
		{[]string{"--tls-cert", certFile, "--tls-key", certFile}, "--tls-cert/--tls-key"},
	} {
		out, err := runBinary(t, append([]string{"--port", "0"}, tc.args...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%v: %v, output %q; want %q", tc.args, err, out, tc.want)
		}
	}
}
