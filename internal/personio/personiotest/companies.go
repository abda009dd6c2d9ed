package personiotest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxCompanies is the most companies one Companies serves.
const MaxCompanies = 10_000

// CompanyID is the id of company number i (1-based) of a Companies: "company-01",
// "company-02", …, "company-100". It is also the company's client_id.
func CompanyID(i int) string { return fmt.Sprintf("company-%02d", i) }

// CompanySecret is the client_secret of company number i (1-based): secret, the
// Options.ClientSecret of NewCompanies (default DefaultClientSecret), followed by "-" and the
// number as in CompanyID: "sim-secret-01", "sim-secret-02", …
func CompanySecret(secret string, i int) string {
	if secret == "" {
		secret = DefaultClientSecret
	}
	return fmt.Sprintf("%s-%02d", secret, i)
}

// CompanySeed is the data seed of company number i (1-based) of a Companies built with seed:
// company-01 has seed itself (its data are those of New with the same Options), every other
// company a seed of its own, so no two companies of a run, nor companies of runs with nearby
// seeds, share their people.
func CompanySeed(seed int64, i int) int64 {
	return seed + int64(uint64(i-1)*0x9E3779B97F4A7C15)
}

// Credential is the OAuth client credential of one company of a Companies. The secret is a
// test value of the simulator, not a secret.
type Credential struct {
	Company      string // e.g. "company-07"
	ClientID     string // the same as Company
	ClientSecret string // CompanySecret(Options.ClientSecret, 7)
	// SecretFile is the file WriteCredentials wrote ClientSecret to; empty otherwise.
	SecretFile string
}

// Companies serves several simulated Personio companies (accounts) on one listener. Each is
// a Server of its own, built by New: its own data, credential, rate budgets, compensation
// limits, faults, churn, hidden fields, hostile cases and webhooks. A router in front sends a
// token request to the company its client_id names and an API request to the company that
// issued its bearer token (tokens are "papi-<company>-<random>"); the company then checks the
// token as a lone Server does, so a token of one company never reaches another's data. All
// methods are safe for concurrent use.
type Companies struct {
	servers []*Server
	byID    map[string]*Server
	handler http.Handler

	lifeMu  sync.Mutex
	started bool
	httpSrv *http.Server
	testSrv *httptest.Server
	url     string
	closed  bool
}

// NewCompanies builds n companies from opts (see Companies); it does not listen (see
// Companies.Start and NewTestCompanies). Company number i (1-based) is New(opts) with
//
//   - ClientID CompanyID(i) and ClientSecret CompanySecret(opts.ClientSecret, i),
//   - Seed CompanySeed(opts.Seed, i),
//   - Webhooks.CompanyID the number i ("1", "2", …), the company_id of its deliveries;
//
// every other option (Persons, rates, faults, ChurnEvery, hostile cases, …) applies to each
// company alone: Persons: 1000 gives every company 1,000 persons, a RateLimit is each
// company's credential's budget. Person ids are drawn per company from the same range, so
// some occur in several companies (as different people): the tenant key prefix of the
// service is what keeps them apart. opts.ClientID
// and opts.Webhooks.CompanyID must be empty: the companies' own are set here.
func NewCompanies(n int, opts Options) (*Companies, error) {
	var errs []error
	if n < 1 || n > MaxCompanies {
		errs = append(errs, fmt.Errorf("companies must be 1 to %d, got %d", MaxCompanies, n))
	}
	if opts.ClientID != "" {
		errs = append(errs, errors.New("ClientID must be empty with companies: company i's client_id is CompanyID(i), company-01, company-02, …"))
	}
	if opts.Webhooks.CompanyID != "" {
		errs = append(errs, errors.New("Webhooks.CompanyID must be empty with companies: company i delivers company_id i"))
	}
	if err := opts.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	c := &Companies{byID: make(map[string]*Server, n)}
	for i := 1; i <= n; i++ {
		o := opts
		o.ClientID = CompanyID(i)
		o.ClientSecret = CompanySecret(opts.ClientSecret, i)
		o.Seed = CompanySeed(opts.Seed, i)
		o.Webhooks.CompanyID = strconv.Itoa(i)
		s, err := New(o)
		if err != nil {
			_ = c.closeServers()
			return nil, fmt.Errorf("personiotest: company %s: %w", o.ClientID, err)
		}
		s.auth.prefix = "papi-" + o.ClientID + "-"
		c.servers = append(c.servers, s)
		c.byID[o.ClientID] = s
	}
	c.handler = c.routes()
	return c, nil
}

// NewTestCompanies starts n companies (see NewCompanies) on a loopback httptest server,
// closed by t.Cleanup. It fails the test when the options are invalid.
func NewTestCompanies(t testing.TB, n int, opts Options) *Companies {
	t.Helper()
	c, err := NewCompanies(n, opts)
	if err != nil {
		t.Fatalf("personiotest: %v", err)
	}
	c.lifeMu.Lock()
	c.started = true
	c.testSrv = httptest.NewServer(c.handler)
	c.setURL(c.testSrv.URL)
	c.lifeMu.Unlock()
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// setURL records the URL the companies are served at, in each company too (their profile
// picture URLs name it unless Options.PublicURL does); c.lifeMu is held.
func (c *Companies) setURL(u string) {
	c.url = u
	for _, s := range c.servers {
		s.lifeMu.Lock()
		s.started = true // served by c: a Start of its own would be a second listener
		s.url = u
		s.lifeMu.Unlock()
	}
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves every company in the background
// until Close.
func (c *Companies) Start(addr string) error {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.started {
		return ErrAlreadyStarted
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("personiotest: listen %s: %w", addr, err)
	}
	c.started = true
	c.setURL("http://" + ln.Addr().String())
	c.httpSrv = &http.Server{Handler: c.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.httpSrv.Serve(ln) }()
	return nil
}

// URL returns the base URL every company is served at; empty before Start.
func (c *Companies) URL() string {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	return c.url
}

// Handler returns the router: the API of every company and the admin endpoints.
func (c *Companies) Handler() http.Handler { return c.handler }

// Close stops serving and every company's background work. It is safe to call more than once.
func (c *Companies) Close() error {
	c.lifeMu.Lock()
	if c.closed {
		c.lifeMu.Unlock()
		return nil
	}
	c.closed = true
	httpSrv, testSrv := c.httpSrv, c.testSrv
	c.lifeMu.Unlock()

	var errs []error
	if httpSrv != nil {
		if err := httpSrv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("personiotest: close: %w", err))
		}
	}
	if testSrv != nil {
		testSrv.CloseClientConnections()
		testSrv.Close()
	}
	errs = append(errs, c.closeServers())
	return errors.Join(errs...)
}

func (c *Companies) closeServers() error {
	var errs []error
	for _, s := range c.servers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// Len is the number of companies.
func (c *Companies) Len() int { return len(c.servers) }

// IDs returns the company ids in order: company-01, company-02, …
func (c *Companies) IDs() []string {
	ids := make([]string, len(c.servers))
	for i := range c.servers {
		ids[i] = CompanyID(i + 1)
	}
	return ids
}

// Servers returns the companies in order: Servers()[0] is company-01. Each is a full Server
// (Truth, Churn, SetFaults, Stats, WebhookStats, …) whose URL is the shared one.
func (c *Companies) Servers() []*Server { return append([]*Server(nil), c.servers...) }

// Company returns the company with id (e.g. "company-07"), or nil when there is none.
func (c *Companies) Company(id string) *Server { return c.byID[id] }

// Credentials returns every company's credential, in order.
func (c *Companies) Credentials() []Credential {
	out := make([]Credential, len(c.servers))
	for i, s := range c.servers {
		out[i] = Credential{Company: s.opts.ClientID, ClientID: s.opts.ClientID, ClientSecret: s.opts.ClientSecret}
	}
	return out
}

// WriteCredentials writes each company's client secret to dir/<company>.secret (mode 0600,
// no trailing newline), creating dir when needed, and returns the credentials with
// SecretFile set: what a TENANTS_FILE names (client id inline, secret by file).
func (c *Companies) WriteCredentials(dir string) ([]Credential, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("personiotest: credentials dir: %w", err)
	}
	creds := c.Credentials()
	for i := range creds {
		p := filepath.Join(dir, creds[i].Company+".secret")
		if err := os.WriteFile(p, []byte(creds[i].ClientSecret), 0o600); err != nil {
			return nil, fmt.Errorf("personiotest: write credential of %s: %w", creds[i].Company, err)
		}
		creds[i].SecretFile = p
	}
	return creds, nil
}

// --- routing ---

// companyRoute is where company-specific admin endpoints live: /admin/companies/{id}/<rest>
// is /admin/<rest> of that company.
const companyRoute = "/admin/companies/"

func (c *Companies) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/auth/token", c.routeToken)
	mux.HandleFunc("POST /v2/auth/revoke", c.routeRevoke)
	mux.HandleFunc("/v2/", c.routeBearer)
	mux.HandleFunc("GET /admin/companies", c.adminCompanies)
	mux.HandleFunc(companyRoute+"{company}/{rest...}", c.routeAdmin)
	mux.HandleFunc("POST /admin/churn", c.adminChurnAll)
	mux.HandleFunc("PUT /admin/faults", c.adminFaultsAll)
	mux.HandleFunc("/admin/", c.adminUnqualified)
	// Anything else is answered (404) by company-01, as a lone Server does.
	mux.Handle("/", c.servers[0].handler)
	return mux
}

// fallback answers what names no company (an unknown client_id or token, no token): as
// company-01, which refuses it as Personio would.
func (c *Companies) fallback() *Server { return c.servers[0] }

// maxFormPeek is the most of a token request's body the router reads to find its client_id.
const maxFormPeek = 1 << 20

// peekForm returns the form of a form-encoded POST without consuming its body: the company's
// handler reads the body again as it came.
func peekForm(r *http.Request) url.Values {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" || r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxFormPeek+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
	if err != nil || len(b) > maxFormPeek {
		return nil
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil
	}
	return form
}

func (c *Companies) routeToken(w http.ResponseWriter, r *http.Request) {
	s := c.byID[peekForm(r).Get("client_id")]
	if s == nil {
		s = c.fallback()
	}
	s.handler.ServeHTTP(w, r)
}

func (c *Companies) routeRevoke(w http.ResponseWriter, r *http.Request) {
	c.byToken(peekForm(r).Get("token")).handler.ServeHTTP(w, r)
}

func (c *Companies) routeBearer(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, _ = strings.CutPrefix(h, "bearer ")
	}
	c.byToken(strings.TrimSpace(tok)).handler.ServeHTTP(w, r)
}

// byToken returns the company whose token prefix tok carries, or the fallback. Which company
// issued a token is all the router decides; the company itself checks the token.
func (c *Companies) byToken(tok string) *Server {
	rest, ok := strings.CutPrefix(tok, "papi-")
	if i := strings.LastIndexByte(rest, '-'); ok && i > 0 {
		if s := c.byID[rest[:i]]; s != nil {
			return s
		}
	}
	return c.fallback()
}

// companyInfo is one company of GET /admin/companies.
type companyInfo struct {
	ID        string `json:"id"`
	ClientID  string `json:"client_id"`
	Seed      int64  `json:"seed"`
	Persons   int    `json:"persons"` // now, churn included
	WebhookID string `json:"webhook_company_id"`
	Admin     string `json:"admin"` // path prefix of its admin endpoints
}

func (c *Companies) adminCompanies(w http.ResponseWriter, _ *http.Request) {
	out := make([]companyInfo, len(c.servers))
	for i, s := range c.servers {
		s.mu.RLock()
		persons := len(s.data.persons)
		s.mu.RUnlock()
		out[i] = companyInfo{ID: s.opts.ClientID, ClientID: s.opts.ClientID, Seed: s.opts.Seed, Persons: persons,
			WebhookID: s.opts.Webhooks.CompanyID, Admin: companyRoute + s.opts.ClientID + "/"}
	}
	writeAdminJSON(w, http.StatusOK, out)
}

// routeAdmin serves /admin/companies/{company}/<rest> as /admin/<rest> of that company.
func (c *Companies) routeAdmin(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("company")
	s := c.byID[id]
	if s == nil {
		writeAdminJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no company %q (GET /admin/companies lists them)", id)})
		return
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path = "/admin/" + r.PathValue("rest")
	r2.URL.RawPath = ""
	s.handler.ServeHTTP(w, r2)
}

// adminUnqualified serves /admin/<rest> without a company: the only company's when there is
// one (the paths of a lone Server keep working), a 404 naming the per-company paths otherwise.
func (c *Companies) adminUnqualified(w http.ResponseWriter, r *http.Request) {
	if len(c.servers) == 1 {
		c.servers[0].handler.ServeHTTP(w, r)
		return
	}
	writeAdminJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf(
		"%d companies: name one, %s{id}%s (GET /admin/companies lists them)", len(c.servers), companyRoute, strings.TrimPrefix(r.URL.Path, "/admin"))})
}

// adminChurnAll applies one Churn to every company: the ChurnResult of each by company id.
// With one company it is that company's POST /admin/churn, reply included.
func (c *Companies) adminChurnAll(w http.ResponseWriter, r *http.Request) {
	if len(c.servers) == 1 {
		c.servers[0].handler.ServeHTTP(w, r)
		return
	}
	var ch Churn
	if !readAdminBody(w, r, &ch, "a JSON Churn") {
		return
	}
	out := make(map[string]ChurnResult, len(c.servers))
	for _, s := range c.servers {
		out[s.opts.ClientID] = s.Churn(ch)
	}
	writeAdminJSON(w, http.StatusOK, out)
}

// adminFaultsAll sets the same Faults in every company.
func (c *Companies) adminFaultsAll(w http.ResponseWriter, r *http.Request) {
	if len(c.servers) == 1 {
		c.servers[0].handler.ServeHTTP(w, r)
		return
	}
	var f Faults
	if !readAdminBody(w, r, &f, "JSON Faults") {
		return
	}
	if err := f.Validate(); err != nil {
		adminError(w, err)
		return
	}
	for _, s := range c.servers {
		s.SetFaults(f)
	}
	writeAdminJSON(w, http.StatusOK, f)
}
