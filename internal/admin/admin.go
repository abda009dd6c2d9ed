// Package admin serves the operator endpoints of personio-cdc on one HTTP listener:
//
//	/metrics  Prometheus metrics of the registry given to New
//	/healthz  200 while the process is alive
//	/readyz   200 when configured and every readiness check (Kafka, registry, schema ids, start-up) passes
//	/status   JSON status per tenant and entity (counts and error codes, never personal data)
//	/         the status page: /status rendered as HTML for a person (see page.go)
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition. Func returns nil when the condition holds.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Options configure a Server.
type Options struct {
	// Addr is the listen address, e.g. "127.0.0.1:9464" or ":9464".
	Addr string
	// Gatherer is the registry /metrics serves. Required.
	Gatherer prometheus.Gatherer
	// Ready are the readiness checks of /readyz; all must pass.
	Ready []Check
	// CheckTimeout bounds each readiness check (default 2s).
	CheckTimeout time.Duration
	// Status returns the value /status encodes as JSON. Optional.
	Status func() any
	// Logger receives server errors (default: discard).
	Logger *slog.Logger
	// Registerer, when set, receives personio_cdc_admin_requests_total.
	Registerer prometheus.Registerer
	// IdleTimeout closes a keep-alive connection that has carried no request for this long
	// (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// ReadHeaderTimeout closes a connection whose request headers have not arrived in full
	// this long after it started sending them (default DefaultReadHeaderTimeout).
	ReadHeaderTimeout time.Duration
}

// The defaults of the admin server's connection timeouts. The idle timeout outlasts the usual
// 15-60 s scrape interval, so a scraper keeps reusing its connection; one that went away stops
// holding a connection and a goroutine after it.
const (
	DefaultIdleTimeout       = 90 * time.Second
	DefaultReadHeaderTimeout = 5 * time.Second
)

// Server is the admin HTTP server.
type Server struct {
	opts     Options
	requests *prometheus.CounterVec
	srv      *http.Server
	ln       net.Listener
	done     chan struct{}
	err      error
	once     sync.Once
	now      func() time.Time // the status page's clock
}

// New validates opts and builds the server; Start listens.
func New(opts Options) (*Server, error) {
	if opts.Gatherer == nil {
		return nil, errors.New("admin: Gatherer is required")
	}
	if opts.Addr == "" {
		return nil, errors.New("admin: Addr is required")
	}
	if opts.CheckTimeout <= 0 {
		opts.CheckTimeout = 2 * time.Second
	}
	if opts.IdleTimeout < 0 || opts.ReadHeaderTimeout < 0 {
		return nil, errors.New("admin: IdleTimeout and ReadHeaderTimeout must not be negative")
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.ReadHeaderTimeout == 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	for _, c := range opts.Ready {
		if c.Name == "" || c.Func == nil {
			return nil, errors.New("admin: a readiness check needs a Name and a Func")
		}
	}
	s := &Server{opts: opts, done: make(chan struct{}), now: time.Now}
	s.requests = promauto.With(opts.Registerer).NewCounterVec(prometheus.CounterOpts{
		Name: "personio_cdc_admin_requests_total",
		Help: "Requests to the admin endpoints, by path and status code.",
	}, []string{"handler", "code"})
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handler returns the HTTP handler of every endpoint (usable without Start, e.g. in tests).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(path string, h http.Handler) {
		mux.Handle("GET "+path, promhttp.InstrumentHandlerCounter(s.requests.MustCurryWith(prometheus.Labels{"handler": path}), h))
	}
	handle("/metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
	}))
	handle("/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	}))
	handle("/readyz", http.HandlerFunc(s.readyz))
	handle("/status", http.HandlerFunc(s.status))
	mux.Handle("GET /{$}", promhttp.InstrumentHandlerCounter(s.requests.MustCurryWith(prometheus.Labels{"handler": "/"}),
		http.HandlerFunc(s.page)))
	return mux
}

// CheckResult is the outcome of one readiness check as /readyz reports it.
type CheckResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Readiness runs every check concurrently, each bounded by CheckTimeout, and reports whether
// all passed.
func (s *Server) Readiness(ctx context.Context) (bool, []CheckResult) {
	res := make([]CheckResult, len(s.opts.Ready))
	var wg sync.WaitGroup
	for i, c := range s.opts.Ready {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, s.opts.CheckTimeout)
			defer cancel()
			err := c.Func(cctx)
			res[i] = CheckResult{Name: c.Name, OK: err == nil}
			if err != nil {
				res[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	sort.SliceStable(res, func(i, j int) bool { return res[i].Name < res[j].Name })
	ok := true
	for _, r := range res {
		ok = ok && r.OK
	}
	return ok, res
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ok, res := s.Readiness(r.Context())
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, struct {
		Ready  bool          `json:"ready"`
		Checks []CheckResult `json:"checks"`
	}{ok, res})
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Status == nil {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	writeJSON(w, http.StatusOK, s.opts.Status())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// Start listens on Addr and serves in the background. It returns once the listener is open, so
// Addr reports the real port when Addr asked for port 0.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return nil
}

// Addr returns the listening address (after Start), else the configured one.
func (s *Server) Addr() string {
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.opts.Addr
}

// Shutdown stops accepting connections and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		err = s.srv.Shutdown(ctx)
		if s.ln != nil {
			<-s.done
			if err == nil {
				err = s.err
			}
		}
	})
	return err
}
