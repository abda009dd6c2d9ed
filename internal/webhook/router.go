package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// DefaultRetryAfter is the Retry-After of a delivery for a tenant this instance does not run.
const DefaultRetryAfter = 30 * time.Second

// Router outcomes, the values of personio_cdc_webhook_unserved_total{reason}.
const (
	unservedUnknown  = "unknown_tenant" // no configured tenant has the path: 404
	unservedNotOwned = "not_owned"      // configured, not running in this instance: 503
)

// RouterOptions configure a Router: the one listener of a process serving many tenants.
type RouterOptions struct {
	// Addr is the listen address of Run (host:port).
	Addr string
	// Path is the base path: tenant T's deliveries arrive on <Path>/<T>; while exactly one
	// tenant is configured, on <Path> too (the path of a one-tenant process).
	Path string
	// TLSCertFile and TLSKeyFile make Run serve HTTPS; both or neither.
	TLSCertFile, TLSKeyFile string
	// RetryAfter is the Retry-After of a 503 for a tenant not run here; default 30 s.
	RetryAfter time.Duration
	// Registerer receives personio_cdc_webhook_unserved_total; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
}

// Route is a configured tenant: its name (the last segment of its path) and its token.
type Route struct {
	Tenant string
	Token  string
}

// Router serves the deliveries of every tenant of a process on one listener, each tenant on
// a path of its own with a token of its own. A running tenant registers its Receiver (which
// answers its deliveries exactly as a receiver of its own would); a configured tenant without
// one (another instance of the group owns it, or it is stopped) gets 503 with Retry-After,
// and Personio retries; a path naming no configured tenant gets 404 before the body is read.
type Router struct {
	opts     RouterOptions
	unserved *prometheus.CounterVec
	log      *slog.Logger

	mu     sync.Mutex
	tokens map[string][sha256.Size]byte // configured tenants
	recv   map[string]*Receiver         // running tenants
}

// NewRouter validates o and builds a router; it does not listen (see Run, Serve, Handler).
func NewRouter(o RouterOptions) (*Router, error) {
	var errs []error
	if !strings.HasPrefix(o.Path, "/") {
		errs = append(errs, fmt.Errorf("Path %q must start with /", o.Path))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("TLSCertFile and TLSKeyFile go together"))
	}
	if o.RetryAfter < 0 {
		errs = append(errs, errors.New("RetryAfter must not be negative"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Path = strings.TrimRight(o.Path, "/")
	r := &Router{opts: o, log: o.Logger, tokens: map[string][sha256.Size]byte{}, recv: map[string]*Receiver{},
		unserved: promauto.With(o.Registerer).NewCounterVec(prometheus.CounterOpts{
			Name: "personio_cdc_webhook_unserved_total",
			Help: "Webhook deliveries the process did not take, by reason: unknown_tenant (404: the path names no configured tenant), not_owned (503 with Retry-After: the tenant runs in another instance of the group, or is stopped).",
		}, []string{"reason"})}
	r.unserved.WithLabelValues(unservedUnknown)
	r.unserved.WithLabelValues(unservedNotOwned)
	return r, nil
}

// Configure sets the configured tenants (the tenants file as loaded or reloaded). A running
// tenant no longer configured is no longer served.
func (r *Router) Configure(routes []Route) {
	tokens := make(map[string][sha256.Size]byte, len(routes))
	for _, rt := range routes {
		tokens[rt.Tenant] = sha256.Sum256([]byte(rt.Token))
	}
	r.mu.Lock()
	r.tokens = tokens
	r.mu.Unlock()
}

// Register makes the router hand tenant's deliveries to rcv (the tenant started here).
func (r *Router) Register(tenant string, rcv *Receiver) {
	r.mu.Lock()
	r.recv[tenant] = rcv
	r.mu.Unlock()
}

// Unregister stops handing tenant's deliveries to rcv (the tenant stopped); a receiver
// registered since is left alone.
func (r *Router) Unregister(tenant string, rcv *Receiver) {
	r.mu.Lock()
	if r.recv[tenant] == rcv {
		delete(r.recv, tenant)
	}
	r.mu.Unlock()
}

// route finds the tenant a request path names: <Path>/<tenant>, or <Path> alone while one
// tenant is configured. ok is false for any other path.
func (r *Router) route(path string) (tenant string, token [sha256.Size]byte, rcv *Receiver, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case path == r.opts.Path || (r.opts.Path == "" && path == "/"):
		if len(r.tokens) != 1 {
			return "", token, nil, false
		}
		for t := range r.tokens {
			tenant = t
		}
	case strings.HasPrefix(path, r.opts.Path+"/"):
		tenant = strings.TrimPrefix(path, r.opts.Path+"/")
	default:
		return "", token, nil, false
	}
	token, ok = r.tokens[tenant]
	if !ok {
		return "", token, nil, false
	}
	return tenant, token, r.recv[tenant], true
}

// Handler serves every tenant's path; every other path is 404.
func (r *Router) Handler() http.Handler { return http.HandlerFunc(r.serve) }

func (r *Router) serve(w http.ResponseWriter, req *http.Request) {
	_, token, rcv, ok := r.route(req.URL.Path)
	switch {
	case !ok:
		r.unserved.WithLabelValues(unservedUnknown).Inc()
		reply(w, http.StatusNotFound, "not_found")
	case rcv != nil:
		rcv.serveDelivery(w, req)
	case req.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, outcomeMethod)
	case !tokenMatches(req, token):
		// The tenant's ownership is told to Personio only, which holds its token.
		reply(w, http.StatusUnauthorized, outcomeUnauthorized)
	default:
		r.unserved.WithLabelValues(unservedNotOwned).Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(r.opts.RetryAfter.Round(time.Second)/time.Second)))
		reply(w, http.StatusServiceUnavailable, unservedNotOwned)
	}
}

// tokenMatches compares the Authorization header with a token's hash in constant time.
func tokenMatches(req *http.Request, token [sha256.Size]byte) bool {
	got := req.Header.Values("Authorization")
	if len(got) != 1 {
		return false
	}
	sum := sha256.Sum256([]byte(got[0]))
	return subtle.ConstantTimeCompare(sum[:], token[:]) == 1
}

// Run listens on RouterOptions.Addr and serves until ctx ends, then shuts down gracefully.
func (r *Router) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.opts.Addr)
	if err != nil {
		return fmt.Errorf("webhook: listen %s: %w", r.opts.Addr, err)
	}
	return r.Serve(ctx, ln)
}

// Serve serves on ln (closing it) until ctx ends; with TLS files set, it serves HTTPS.
func (r *Router) Serve(ctx context.Context, ln net.Listener) error {
	return serveHTTP(ctx, ln, r.Handler(), r.opts.TLSCertFile, r.opts.TLSKeyFile, r.opts.Path+"/<tenant>", r.log)
}

// serveHTTP serves h on ln (closing it) until ctx ends, then shuts down gracefully; with TLS
// files set, it serves HTTPS.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, certFile, keyFile, path string, log *slog.Logger) error {
	srv := &http.Server{
		Handler: h,
		// The handler only enqueues; these bound what a slow or hostile client can hold.
		ReadHeaderTimeout: time.Second,
		ReadTimeout:       2 * time.Second,
		WriteTimeout:      AnswerWithin,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	tlsOn := certFile != ""
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("webhook: TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	log.Info("webhook receiver listening", "addr", ln.Addr().String(), "path", path, "tls", tlsOn)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("webhook: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), AnswerWithin)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	log.Info("webhook receiver stopped")
	if err != nil {
		return fmt.Errorf("webhook: shutdown: %w", err)
	}
	return nil
}
