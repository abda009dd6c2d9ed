package personiotest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
)

// Server is a Personio API v2 simulator. All methods are safe for concurrent use.
type Server struct {
	opts Options

	mu   sync.RWMutex // guards data
	data *dataset

	hidden  atomic.Pointer[hiddenFields] // see SetHiddenFields; nil until first use
	hostile hostileServer                // see SetHostile

	faultMu sync.Mutex // guards faults and rng
	faults  Faults
	rng     *rand.Rand

	endlessSeq atomic.Uint64 // cursors handed out under Faults.EndlessEmptyPages

	auth   *authority
	limits *limits
	comp   *compLimits
	// workLimit is the compensation work limit in force (see SetCompensationWorkLimit).
	workLimit atomic.Int64
	stats     *statsCollector
	hooks     *hookHub // webhooks; see webhooks.go
	handler   http.Handler

	lifeMu   sync.Mutex
	started  bool
	listener net.Listener
	httpSrv  *http.Server
	testSrv  *httptest.Server
	url      string
	stop     chan struct{}
	churnWG  sync.WaitGroup
	closed   bool
}

// New builds the dataset and the handler; it does not listen (see Start and NewTestServer).
func New(opts Options) (*Server, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	s := &Server{
		opts:   opts,
		data:   newDataset(opts),
		faults: opts.Faults,
		rng:    rand.New(rand.NewPCG(fakerSeed(opts.Seed, 2), fakerSeed(opts.Seed, 3))),
		auth:   newAuthority(opts),
		limits: newLimits(opts),
		comp:   &compLimits{max: opts.CompensationConcurrency, inFlight: map[string]int{}},
		stats:  newStatsCollector(),
		stop:   make(chan struct{}),
	}
	s.workLimit.Store(int64(opts.CompensationWorkLimit))
	s.hooks = newHookHub(opts.Webhooks, opts.Now, s.stop)
	s.handler = s.routes()
	if len(opts.Hostile) > 0 {
		if err := s.SetHostile(opts.Hostile); err != nil {
			return nil, err
		}
	}
	if opts.ChurnEvery > 0 {
		s.churnWG.Add(1)
		go s.backgroundChurn(opts.ChurnEvery, opts.ChurnMix)
	}
	return s, nil
}

// NewTestServer starts a simulator on a loopback httptest server, closed by t.Cleanup. It
// fails the test when opts are invalid.
func NewTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("personiotest: %v", err)
	}
	s.lifeMu.Lock()
	s.started = true
	s.testSrv = httptest.NewServer(s.handler)
	s.url = s.testSrv.URL
	s.lifeMu.Unlock()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewTruth returns the company opts describe, as its ground truth, without serving it: data
// for tests of what comes after the API. It fails the test when opts are invalid.
func NewTruth(t testing.TB, opts Options) Truth {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("personiotest: %v", err)
	}
	defer s.Close()
	return s.Truth()
}

// Handler returns the API and /admin endpoints.
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on addr (e.g. "127.0.0.1:0") and serves in the background until Close.
func (s *Server) Start(addr string) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.started {
		return ErrAlreadyStarted
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("personiotest: listen %s: %w", addr, err)
	}
	s.started = true
	s.listener = ln
	s.url = "http://" + ln.Addr().String()
	s.httpSrv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.httpSrv.Serve(ln) }()
	return nil
}

// URL returns the base URL, e.g. http://127.0.0.1:41234; empty before Start.
func (s *Server) URL() string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.url
}

// PublicURL returns Options.PublicURL, or URL when it is empty: the origin profile picture
// URLs name.
func (s *Server) PublicURL() string {
	if s.opts.PublicURL != "" {
		return s.opts.PublicURL
	}
	return s.URL()
}

// Close stops serving and the background churn. It is safe to call more than once.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	if s.closed {
		s.lifeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	httpSrv, testSrv := s.httpSrv, s.testSrv
	s.lifeMu.Unlock()

	s.churnWG.Wait()
	s.hooks.wait()
	s.closeHostile()
	var err error
	if httpSrv != nil {
		if cerr := httpSrv.Close(); cerr != nil && !errors.Is(cerr, http.ErrServerClosed) {
			err = fmt.Errorf("personiotest: close: %w", cerr)
		}
	}
	if testSrv != nil {
		testSrv.CloseClientConnections()
		testSrv.Close()
	}
	return err
}

// SetFaults replaces the injected faults from the next request on. Probabilities are used
// as given (see Faults.Validate to check them first).
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	s.faults = f
	s.faultMu.Unlock()
}

// Faults returns the faults in effect.
func (s *Server) Faults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

// Churn applies the requested changes at once and reports the persons affected. The
// changes fire their webhook events (see webhooks.go).
func (s *Server) Churn(c Churn) ChurnResult {
	now := s.opts.Now()
	s.mu.Lock()
	s.data.removed = s.data.removed[:0]
	res := s.data.churn(c, now)
	evs := webhookEvents(res, s.data, s.data.removed, s.opts.Webhooks.CompanyID, now)
	s.mu.Unlock()
	s.hooks.fire(evs)
	return res
}

func (s *Server) backgroundChurn(every time.Duration, mix Churn) {
	defer s.churnWG.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Churn(mix)
		}
	}
}

// Truth is the full current dataset as the API serves it.
type Truth struct {
	Persons       []personio.Person                `json:"persons"`       // in listing order
	Employments   map[string][]personio.Employment `json:"employments"`   // by person id
	Compensations []personio.Compensation          `json:"compensations"` // in listing order
}

// Truth returns a snapshot of every person, employment and compensation.
func (s *Server) Truth() Truth {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.data
	t := Truth{
		Persons:       make([]personio.Person, 0, len(d.persons)),
		Employments:   make(map[string][]personio.Employment, len(d.persons)),
		Compensations: make([]personio.Compensation, 0, len(d.comps)),
	}
	origin := s.PublicURL()
	for _, p := range d.persons {
		t.Persons = append(t.Persons, onServer(p.p, origin))
		emps := make([]personio.Employment, 0, len(p.emps))
		for _, e := range p.emps {
			emps = append(emps, e.e)
		}
		t.Employments[p.p.ID] = emps
	}
	for _, c := range d.comps {
		t.Compensations = append(t.Compensations, c.c)
	}
	return t
}

// onServer returns p with its picture URL on origin (PublicURL), as the API serves it; before
// the server listens (NewTruth, no PublicURL) the URL keeps the stand-in origin.
func onServer(p personio.Person, origin string) personio.Person {
	if p.ProfilePicture != nil && origin != "" {
		p.ProfilePicture = &personio.ProfilePicture{URL: strings.Replace(p.ProfilePicture.URL, pictureOrigin, origin, 1)}
	}
	return p
}

// Stats returns the request counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }
