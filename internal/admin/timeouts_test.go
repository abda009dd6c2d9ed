package admin

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The admin server closes idle keep-alive connections and connections that never finish their
// request headers: without that, every idle scraper or half-open client holds a connection (and
// a goroutine) for as long as the process lives.
func TestServerTimeoutsDefault(t *testing.T) {
	s, err := New(Options{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if s.srv.IdleTimeout != DefaultIdleTimeout || s.srv.ReadHeaderTimeout != DefaultReadHeaderTimeout {
		t.Errorf("IdleTimeout %v, ReadHeaderTimeout %v; want %v and %v",
			s.srv.IdleTimeout, s.srv.ReadHeaderTimeout, DefaultIdleTimeout, DefaultReadHeaderTimeout)
	}
}

// startShort starts a server whose timeouts are short, so that the tests see them act.
func startShort(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(),
		IdleTimeout: 50 * time.Millisecond, ReadHeaderTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	return s
}

// waitClosed reads from c until the server closes it. The deadline only keeps a broken server
// from hanging the test; the assertion is that the read ends in EOF, not how fast.
func waitClosed(t *testing.T, r io.Reader, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept the connection open")
	}
	if err != nil {
		t.Fatalf("read: %v, want the server to close the connection", err)
	}
}

func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	s := startShort(t)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("status %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	waitClosed(t, br, c) // idle now
}

func TestUnfinishedRequestHeadersAreClosed(t *testing.T) {
	s := startShort(t)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: adm"); err != nil { // never finished
		t.Fatal(err)
	}
	waitClosed(t, c, c)
}

func TestNewValidatesTimeouts(t *testing.T) {
	for name, o := range map[string]Options{
		"negative idle":        {Addr: ":0", Gatherer: prometheus.NewRegistry(), IdleTimeout: -time.Second},
		"negative read header": {Addr: ":0", Gatherer: prometheus.NewRegistry(), ReadHeaderTimeout: -time.Second},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
}
