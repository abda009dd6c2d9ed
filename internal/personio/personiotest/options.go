package personiotest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Defaults of Options.
const (
	DefaultClientID     = "sim-client"
	DefaultClientSecret = "sim-secret"
	DefaultTokenTTL     = 24 * time.Hour
	DefaultPersons      = 100
)

var (
	defaultRate             = Rate{PerMinute: 300, Burst: 15}
	defaultCompensationRate = Rate{PerMinute: 300, Burst: 5}
	tokenRate               = Rate{PerMinute: 150, Burst: 10}
)

// Rate is a token-bucket budget. The zero value means "the default".
type Rate struct {
	PerMinute float64 `json:"per_minute"`
	Burst     int     `json:"burst"`
}

func (r Rate) orDefault(d Rate) Rate {
	if r.PerMinute == 0 {
		r.PerMinute = d.PerMinute
	}
	if r.Burst == 0 {
		r.Burst = d.Burst
	}
	return r
}

// Faults are injected into API responses (never into /admin). Probabilities are per request
// and are drawn from one seeded source, so a run is repeatable for a given request order.
type Faults struct {
	P500, P502, P503, P504 float64 // probability of that status with an error body
	Reset                  float64 // probability the connection is reset without a reply
	Truncate               float64 // probability the body stops short of its Content-Length
	Malformed              float64 // probability the body is not valid JSON
	// Latency + U[0, LatencyJitter) is added to every reply the backend gives (token
	// requests and admitted API requests). 401 and 429 replies, which Personio's gateway
	// gives on arrival, come back without it.
	Latency       time.Duration
	LatencyJitter time.Duration
	// TokenTTL, when > 0, makes tokens issued from now on expire after TokenTTL although the
	// token response still announces Options.TokenTTL (early expiry).
	TokenTTL time.Duration
	// TokenFaults extends the probabilistic faults to the token endpoints.
	TokenFaults bool

	// Hostile behaviours, each off when zero: a Personio that misbehaves on purpose, for tests
	// of what a client must refuse. They apply to every request while set.

	// RedirectAPI, an origin such as "http://127.0.0.1:9", answers every API request
	// (authenticated and within budget) with 302 Found to the same path and query on that
	// origin.
	RedirectAPI string
	// RedirectToken, an origin, answers every token request with 307 Temporary Redirect to
	// /v2/auth/token on that origin: a client that follows it posts its client secret there.
	RedirectToken string
	// EndlessEmptyPages makes every listing go on after its last item: instead of ending, each
	// page (and each page after it) carries a next link with a fresh cursor, and the pages past
	// the end are empty.
	EndlessEmptyPages bool
	// ExpiresIn, when not 0, is announced as expires_in (seconds; negative allowed) in token
	// responses instead of Options.TokenTTL; OmitExpiresIn leaves expires_in out (what a client
	// sees as 0). The tokens' real lifetime is unchanged.
	ExpiresIn     int64
	OmitExpiresIn bool
	// EchoSecret makes the token endpoint refuse every request with 400 invalid_client, its
	// error body echoing the client_id and client_secret it was sent (the reply of the hostile
	// case secret-echo after its first 503).
	EchoSecret bool
}

// faultsJSON is the wire form of Faults: durations as Go duration strings ("250ms").
type faultsJSON struct {
	P500          float64 `json:"p500,omitempty"`
	P502          float64 `json:"p502,omitempty"`
	P503          float64 `json:"p503,omitempty"`
	P504          float64 `json:"p504,omitempty"`
	Reset         float64 `json:"reset,omitempty"`
	Truncate      float64 `json:"truncate,omitempty"`
	Malformed     float64 `json:"malformed,omitempty"`
	Latency       string  `json:"latency,omitempty"`
	LatencyJitter string  `json:"latency_jitter,omitempty"`
	TokenTTL      string  `json:"token_ttl,omitempty"`
	TokenFaults   bool    `json:"token_faults,omitempty"`

	RedirectAPI       string `json:"redirect_api,omitempty"`
	RedirectToken     string `json:"redirect_token,omitempty"`
	EndlessEmptyPages bool   `json:"endless_empty_pages,omitempty"`
	ExpiresIn         int64  `json:"expires_in,omitempty"`
	OmitExpiresIn     bool   `json:"omit_expires_in,omitempty"`
	EchoSecret        bool   `json:"echo_secret,omitempty"`
}

// MarshalJSON writes durations as Go duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{
		P500: f.P500, P502: f.P502, P503: f.P503, P504: f.P504,
		Reset: f.Reset, Truncate: f.Truncate, Malformed: f.Malformed,
		TokenFaults: f.TokenFaults,
		RedirectAPI: f.RedirectAPI, RedirectToken: f.RedirectToken, EndlessEmptyPages: f.EndlessEmptyPages,
		ExpiresIn: f.ExpiresIn, OmitExpiresIn: f.OmitExpiresIn, EchoSecret: f.EchoSecret,
	}
	if f.Latency != 0 {
		j.Latency = f.Latency.String()
	}
	if f.LatencyJitter != 0 {
		j.LatencyJitter = f.LatencyJitter.String()
	}
	if f.TokenTTL != 0 {
		j.TokenTTL = f.TokenTTL.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads durations as Go duration strings and rejects unknown fields.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := strictUnmarshal(b, &j); err != nil {
		return err
	}
	out := Faults{
		P500: j.P500, P502: j.P502, P503: j.P503, P504: j.P504,
		Reset: j.Reset, Truncate: j.Truncate, Malformed: j.Malformed,
		TokenFaults: j.TokenFaults,
		RedirectAPI: j.RedirectAPI, RedirectToken: j.RedirectToken, EndlessEmptyPages: j.EndlessEmptyPages,
		ExpiresIn: j.ExpiresIn, OmitExpiresIn: j.OmitExpiresIn, EchoSecret: j.EchoSecret,
	}
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{
		{"latency", j.Latency, &out.Latency},
		{"latency_jitter", j.LatencyJitter, &out.LatencyJitter},
		{"token_ttl", j.TokenTTL, &out.TokenTTL},
	} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		*d.dst = v
	}
	*f = out
	return nil
}

// Validate reports every invalid setting at once.
func (f Faults) Validate() error {
	var errs []error
	probs := []struct {
		name string
		p    float64
	}{
		{"P500", f.P500}, {"P502", f.P502}, {"P503", f.P503}, {"P504", f.P504},
		{"Reset", f.Reset}, {"Truncate", f.Truncate}, {"Malformed", f.Malformed},
	}
	sum := 0.0
	for _, p := range probs {
		if p.p < 0 || p.p > 1 {
			errs = append(errs, fmt.Errorf("faults: %s must be in [0,1], got %v", p.name, p.p))
		}
		sum += p.p
	}
	if sum > 1 {
		errs = append(errs, fmt.Errorf("faults: probabilities add up to %v, more than 1", sum))
	}
	if f.Latency < 0 || f.LatencyJitter < 0 || f.TokenTTL < 0 {
		errs = append(errs, errors.New("faults: Latency, LatencyJitter and TokenTTL must not be negative"))
	}
	for _, o := range []struct{ name, v string }{{"RedirectAPI", f.RedirectAPI}, {"RedirectToken", f.RedirectToken}} {
		if o.v == "" {
			continue
		}
		if u, err := url.Parse(o.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("faults: %s must be an origin such as http://127.0.0.1:9, got %q", o.name, o.v))
		}
	}
	if f.ExpiresIn != 0 && f.OmitExpiresIn {
		errs = append(errs, errors.New("faults: ExpiresIn and OmitExpiresIn exclude each other"))
	}
	return errors.Join(errs...)
}

// Options configure a Server. The zero value is usable.
type Options struct {
	Persons      int   // size of the generated company; default 100
	Seed         int64 // same seed => same data
	ClientID     string
	ClientSecret string
	// TokenTTL is the lifetime of issued tokens, announced as expires_in; default 24h.
	TokenTTL              time.Duration
	RateLimit             Rate // per credential; default 300/min, burst 15
	CompensationRateLimit Rate // per credential, separate bucket; default 300/min, burst 5
	NoRateLimit           bool // turn every rate limit off, headers included (throughput benchmarks); the compensation concurrency and time limits stay
	// NoRateLimitHeaders keeps the limits but sends no x-ratelimit-* header, as a gateway that
	// announces nothing: a client has only the 429s to learn the budget from.
	NoRateLimitHeaders  bool
	Faults              Faults
	OmitCompensationIDs bool // serve compensations without "id"
	// TwinBonuses active persons get two performance bonuses of the same type, effective the
	// same day (the first of the current month), with the same interval: with
	// OmitCompensationIDs they collide on the composite identity. Pairs alternate between
	// different amounts and two identical items (see Churn.TwinBonusChanges).
	TwinBonuses int
	// Now is the clock; default time.Now. Data are anchored at the UTC day of Now() in New.
	Now func() time.Time
	// ChurnEvery > 0 applies ChurnMix in the background at that interval until Close.
	ChurnEvery time.Duration
	// ChurnMix is the change applied per background tick; zero means DefaultChurnMix.
	ChurnMix Churn
	// Months of compensation history before the current month; default 3.
	CompensationMonths int
	// PublicURL is the origin clients reach the simulator at (e.g. http://personio-sim:8080 in
	// a container network), named by every profile_picture.url; default: the URL it listens on.
	PublicURL string
	// HiddenFields are left out of person and compensation replies, as Personio does for a
	// credential without their scope (see Server.SetHiddenFields). Truth is unaffected.
	HiddenFields []string

	// Personio's limits on reading compensations (see doc.go), on by default.

	// CompensationConcurrency is how many GET /v2/compensations without a person.id filter a
	// credential may have in progress; one more gets 429 compensations.too_many_requests with
	// Retry-After. Default 2; negative turns the limit off.
	CompensationConcurrency int
	// CompensationWorkLimit is the most work a compensation request may take: persons its
	// filters cover × days of its range + CompensationPageItemWork × limit. Over it, Personio's
	// time limit stops the request: 422 compensations.unprocessable_content. Default
	// DefaultCompensationWorkLimit (100,000); negative turns the limit off.
	CompensationWorkLimit int
	// CompensationUnavailable is the probability that a compensation request gets 503
	// compensations.service_unavailable with Retry-After. Default 0.
	CompensationUnavailable float64
	// CompensationRetryAfter is the Retry-After of those 429 and 503 replies, rounded up to
	// whole seconds; default 30 s.
	CompensationRetryAfter time.Duration
	// CompensationRateLimitFrom is when CompensationRateLimit (5 requests per second)
	// takes effect, compared with Now; before it, compensations have a bucket of RateLimit's
	// size of their own. Default DefaultCompensationRateLimitFrom (2027-01-13).
	CompensationRateLimitFrom time.Time

	// Hostile are the hostile cases served from the start (see Hostile and Server.SetHostile).
	Hostile []Hostile

	// Webhooks configure webhook delivery (see webhooks.go).
	Webhooks WebhookOptions
}

// DefaultChurnMix is the background churn per tick when Options.ChurnMix is zero. Its
// employment and cost center changes leave their person's updated_at alone.
var DefaultChurnMix = Churn{
	Hires: 2, Terminations: 1, Deletions: 1, Renames: 1, EmailChanges: 1,
	AttributeChanges: 1, SalaryChanges: 2, Bonuses: 1, EmploymentChanges: 1, CostCenterChanges: 1,
}

func (o Options) withDefaults() Options {
	if o.Persons == 0 {
		o.Persons = DefaultPersons
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	o.RateLimit = o.RateLimit.orDefault(defaultRate)
	o.CompensationRateLimit = o.CompensationRateLimit.orDefault(defaultCompensationRate)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ChurnMix == (Churn{}) {
		o.ChurnMix = DefaultChurnMix
	}
	if o.CompensationMonths == 0 {
		o.CompensationMonths = 3
	}
	if o.CompensationConcurrency == 0 {
		o.CompensationConcurrency = DefaultCompensationConcurrency
	}
	if o.CompensationWorkLimit == 0 {
		o.CompensationWorkLimit = DefaultCompensationWorkLimit
	}
	if o.CompensationRetryAfter == 0 {
		o.CompensationRetryAfter = DefaultCompensationRetryAfter
	}
	if o.CompensationRateLimitFrom.IsZero() {
		o.CompensationRateLimitFrom = DefaultCompensationRateLimitFrom
	}
	o.Webhooks = o.Webhooks.withDefaults()
	return o
}

// validate reports every invalid setting at once, each by name.
func (o Options) validate() error {
	var errs []error
	if o.Persons < 0 {
		errs = append(errs, fmt.Errorf("Persons must not be negative, got %d", o.Persons))
	}
	if o.TokenTTL < 0 {
		errs = append(errs, fmt.Errorf("TokenTTL must not be negative, got %s", o.TokenTTL))
	}
	for _, r := range []struct {
		name string
		r    Rate
	}{{"RateLimit", o.RateLimit}, {"CompensationRateLimit", o.CompensationRateLimit}} {
		if r.r.PerMinute < 0 || r.r.Burst < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %+v", r.name, r.r))
		}
	}
	if o.ChurnEvery < 0 {
		errs = append(errs, fmt.Errorf("ChurnEvery must not be negative, got %s", o.ChurnEvery))
	}
	if o.PublicURL != "" {
		if u, err := url.Parse(o.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("PublicURL must be an origin such as http://personio-sim:8080, got %q", o.PublicURL))
		}
	}
	if o.TwinBonuses < 0 {
		errs = append(errs, fmt.Errorf("TwinBonuses must not be negative, got %d", o.TwinBonuses))
	}
	if o.CompensationMonths < 0 {
		errs = append(errs, fmt.Errorf("CompensationMonths must not be negative, got %d", o.CompensationMonths))
	}
	if o.CompensationUnavailable < 0 || o.CompensationUnavailable > 1 {
		errs = append(errs, fmt.Errorf("CompensationUnavailable must be in [0,1], got %v", o.CompensationUnavailable))
	}
	if o.CompensationRetryAfter < 0 {
		errs = append(errs, fmt.Errorf("CompensationRetryAfter must not be negative, got %s", o.CompensationRetryAfter))
	}
	if err := o.Faults.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseHidden(o.HiddenFields); err != nil {
		errs = append(errs, fmt.Errorf("HiddenFields: %w", err))
	}
	if err := validateHostile(o.Hostile); err != nil {
		errs = append(errs, fmt.Errorf("Hostile: %w", err))
	}
	errs = append(errs, o.Webhooks.validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
