package personiotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Hostile names one way the simulator answers like a broken or malicious Personio. Each case
// changes realistic replies of the simulator for some items or requests only; the data
// (Truth) stay as they are. Cases are set with Options.Hostile, Server.SetHostile,
// PUT /admin/hostile (a JSON list of names) or personio-sim --hostile CASE[,CASE].
//
// Items are chosen so a test knows them from the truth alone: "the newest person" is the last
// person of the listing (the most recently created), "the first person" the first one, "the
// newest compensation" the last compensation of the listing. Every value a case invents
// carries HostileMarker, so that a test can look for it where it must not be.
//
//	token-redirect       POST /v2/auth/token answers 307 to the other origin (Faults.RedirectToken),
//	                     a second loopback listener that records every request and whether
//	                     it carried the client secret or a bearer token (Server.OtherOrigin).
//	                     It answers with a token of its own.
//	persons-redirect     GET /v2/persons with a cursor (every page after the first) answers 302
//	                     to the other origin, which serves a last page with one invented person
//	                     (unlike Faults.RedirectAPI, which redirects every API request).
//	id-missing           the newest person is listed without "id".
//	id-null              the newest person is listed with "id": null.
//	id-duplicate         the first person is listed again at the end of every listing (on each
//	                     page without a next link), with the same id and the first name
//	                     HostileMarker.
//	date-year-zero       the newest person is listed with created_at in year 0
//	                     (HostileYearZero), which no timestamp of most consumers can hold.
//	future-updated-at    the newest person is listed with updated_at in 2099
//	                     (HostileFutureUpdatedAt), and updated_at filters see that value.
//	empty-pages          every listing goes on after its last item with empty pages and fresh
//	                     cursors, without end (Faults.EndlessEmptyPages).
//	secret-echo          the token endpoint's first reply is a 503 and every later one a 400
//	                     invalid_client (an OAuth error with a Personio error list), each
//	                     echoing the client id and secret in its titles and descriptions
//	                     (Faults.EchoSecret gives that 400 to every request, whatever its
//	                     credentials).
//	huge-name            the newest person's first name is 1 MiB long (HostileHugeName).
//	bad-amount           the newest compensation's amount is "1.234,56" (HostileBadAmount).
//	negative-expires-in  token replies announce expires_in -3600, the tokens stay valid
//	                     (Faults.ExpiresIn).
//	control-chars        the newest person's last name holds control characters, a forged
//	                     JSON log line and a bidi override (HostileControlName).
type Hostile string

// The hostile cases.
const (
	HostileTokenRedirect     Hostile = "token-redirect"
	HostilePersonsRedirect   Hostile = "persons-redirect"
	HostileIDMissing         Hostile = "id-missing"
	HostileIDNull            Hostile = "id-null"
	HostileIDDuplicate       Hostile = "id-duplicate"
	HostileDateYearZero      Hostile = "date-year-zero"
	HostileFutureUpdated     Hostile = "future-updated-at"
	HostileEmptyPages        Hostile = "empty-pages"
	HostileSecretEcho        Hostile = "secret-echo"
	HostileHuge              Hostile = "huge-name"
	HostileAmount            Hostile = "bad-amount"
	HostileNegativeExpiresIn Hostile = "negative-expires-in"
	HostileControlChars      Hostile = "control-chars"
)

// AllHostile lists every hostile case in the order of the Hostile documentation.
var AllHostile = []Hostile{
	HostileTokenRedirect, HostilePersonsRedirect, HostileIDMissing, HostileIDNull, HostileIDDuplicate,
	HostileDateYearZero, HostileFutureUpdated, HostileEmptyPages, HostileSecretEcho, HostileHuge,
	HostileAmount, HostileNegativeExpiresIn, HostileControlChars,
}

// Values the hostile cases serve.
const (
	// HostileMarker is part of every value a hostile case invents (names, the other origin's
	// person, echoed error texts).
	HostileMarker = "HOSTILE-MARKER-5e1f"
	// HostileYearZero is the created_at of date-year-zero.
	HostileYearZero = "0000-01-01T00:00:00Z"
	// HostileFutureUpdatedAt is the updated_at of future-updated-at.
	HostileFutureUpdatedAt = "2099-01-01T00:00:00Z"
	// HostileBadAmount is the amount of bad-amount: a German-formatted number.
	HostileBadAmount = "1.234,56"
	// HostileControlName is the last name of control-chars.
	HostileControlName = HostileMarker + " Ctl\x00\x07\x1b[31m\r\n{\"level\":\"ERROR\",\"msg\":\"forged\"}\u202eend"
	// HostileOtherOriginPersonID is the id of the person the other origin invents.
	HostileOtherOriginPersonID = "990000001"
)

// HostileHugeName is the first name of huge-name: HostileMarker and 1 MiB of letters.
var HostileHugeName = HostileMarker + strings.Repeat("x", 1<<20)

// ParseHostile parses a comma-separated list of case names; "" is no case.
func ParseHostile(s string) ([]Hostile, error) {
	var out []Hostile
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if !slices.Contains(AllHostile, Hostile(n)) {
			return nil, fmt.Errorf("unknown hostile case %q (known: %s)", n, joinHostile(AllHostile))
		}
		out = append(out, Hostile(n))
	}
	return out, nil
}

func joinHostile(hs []Hostile) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = string(h)
	}
	return strings.Join(s, ",")
}

func validateHostile(hs []Hostile) error {
	_, err := ParseHostile(joinHostile(hs))
	return err
}

// hostileSet is the set of cases in effect.
type hostileSet map[Hostile]bool

func (h hostileSet) any(cases ...Hostile) bool {
	for _, c := range cases {
		if h[c] {
			return true
		}
	}
	return false
}

// OtherOrigin is what the other origin, the listener the redirect cases point to, received.
type OtherOrigin struct {
	URL        string   `json:"url"`         // empty until a redirect case was set
	Requests   int64    `json:"requests"`    // every request it received
	SecretSeen bool     `json:"secret_seen"` // the client secret in a URL, header or body
	TokenSeen  bool     `json:"token_seen"`  // an Authorization header
	Paths      []string `json:"paths"`       // method and path of the first requests (at most 20)
}

// HostileState is the body of GET /admin/hostile.
type HostileState struct {
	Cases       []Hostile   `json:"cases"`
	OtherOrigin OtherOrigin `json:"other_origin"`
}

// otherOrigin is a second loopback listener that stands for a foreign host.
type otherOrigin struct {
	secret string
	srv    *http.Server
	url    string

	mu  sync.Mutex
	rec OtherOrigin
}

func startOtherOrigin(secret string) (*otherOrigin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("personiotest: other origin: %w", err)
	}
	o := &otherOrigin{secret: secret, url: "http://" + ln.Addr().String()}
	o.rec.URL = o.url
	o.srv = &http.Server{Handler: http.HandlerFunc(o.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = o.srv.Serve(ln) }()
	return o, nil
}

func (o *otherOrigin) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	secret := strings.Contains(string(body), o.secret) || strings.Contains(r.URL.String(), o.secret)
	for _, vs := range r.Header {
		for _, v := range vs {
			secret = secret || strings.Contains(v, o.secret)
		}
	}
	o.mu.Lock()
	o.rec.Requests++
	o.rec.SecretSeen = o.rec.SecretSeen || secret
	o.rec.TokenSeen = o.rec.TokenSeen || r.Header.Get("Authorization") != ""
	if len(o.rec.Paths) < 20 {
		o.rec.Paths = append(o.rec.Paths, r.Method+" "+r.URL.Path)
	}
	o.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/auth/token":
		_, _ = w.Write(mustJSON(map[string]any{"access_token": "papi-other-origin-" + HostileMarker,
			"expires_in": 86400, "token_type": "Bearer", "scope": scope}))
	case r.Method == http.MethodGet && r.URL.Path == "/v2/persons":
		invented := mustJSON(map[string]any{"id": HostileOtherOriginPersonID, "first_name": HostileMarker,
			"last_name": "Other Origin", "email": "other.origin@example.invalid", "status": "ACTIVE",
			"created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"})
		_, _ = w.Write(page(r, [][]byte{invented}, ""))
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/"):
		_, _ = w.Write(page(r, nil, ""))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (o *otherOrigin) record() OtherOrigin {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.rec
	r.Paths = slices.Clone(o.rec.Paths)
	return r
}

// hostileServer is the Server's hostile part.
type hostileServer struct {
	cases        atomic.Pointer[hostileSet]
	tokenReplies atomic.Int64 // token requests answered under secret-echo

	mu    sync.Mutex // guards other
	other *otherOrigin
}

// SetHostile replaces the hostile cases from the next request on; nil or empty ends them. A
// redirect case starts the other origin (a second listener on 127.0.0.1) the first time.
func (s *Server) SetHostile(cases []Hostile) error {
	if err := validateHostile(cases); err != nil {
		return fmt.Errorf("personiotest: %w", err)
	}
	set := hostileSet{}
	for _, c := range cases {
		set[c] = true
	}
	if set.any(HostileTokenRedirect, HostilePersonsRedirect) {
		s.hostile.mu.Lock()
		if s.hostile.other == nil {
			o, err := startOtherOrigin(s.opts.ClientSecret)
			if err != nil {
				s.hostile.mu.Unlock()
				return err
			}
			s.hostile.other = o
		}
		s.hostile.mu.Unlock()
	}
	s.hostile.tokenReplies.Store(0)
	s.hostile.cases.Store(&set)
	return nil
}

// Hostile returns the hostile cases in effect, in the order of AllHostile.
func (s *Server) Hostile() []Hostile {
	set := s.hostileNow()
	out := []Hostile{}
	for _, c := range AllHostile {
		if set[c] {
			out = append(out, c)
		}
	}
	return out
}

// OtherOrigin returns what the other origin received so far.
func (s *Server) OtherOrigin() OtherOrigin {
	s.hostile.mu.Lock()
	o := s.hostile.other
	s.hostile.mu.Unlock()
	if o == nil {
		return OtherOrigin{}
	}
	return o.record()
}

func (s *Server) hostileNow() hostileSet {
	if p := s.hostile.cases.Load(); p != nil {
		return *p
	}
	return hostileSet{}
}

func (s *Server) otherURL() string {
	s.hostile.mu.Lock()
	defer s.hostile.mu.Unlock()
	if s.hostile.other == nil {
		return ""
	}
	return s.hostile.other.url
}

func (s *Server) closeHostile() {
	s.hostile.mu.Lock()
	o := s.hostile.other
	s.hostile.mu.Unlock()
	if o != nil {
		_ = o.srv.Close()
	}
}

// hostileFaults returns f with the behaviours of Faults the hostile cases borrow: token-redirect
// is Faults.RedirectToken to the other origin, empty-pages Faults.EndlessEmptyPages,
// negative-expires-in Faults.ExpiresIn -3600.
func (s *Server) hostileFaults(f Faults) Faults {
	h := s.hostileNow()
	if h[HostileTokenRedirect] {
		f.RedirectToken = s.otherURL()
	}
	if h[HostileEmptyPages] {
		f.EndlessEmptyPages = true
	}
	if h[HostileNegativeExpiresIn] {
		f.ExpiresIn = -3600
	}
	return f
}

// hostileToken answers a token request for secret-echo; ok is false otherwise.
func (s *Server) hostileToken() (response, bool) {
	switch h := s.hostileNow(); {
	case h[HostileSecretEcho]:
		if s.hostile.tokenReplies.Add(1) == 1 {
			echo := secretEcho(s.opts.ClientID, s.opts.ClientSecret)
			return errorResponse(http.StatusServiceUnavailable, "Service unavailable "+echo, echo, "common.server_error"), true
		}
		return echoSecretReply(s.opts.ClientID, s.opts.ClientSecret), true
	}
	return response{}, false
}

// secretEcho is the text the echoing replies quote the credentials in.
func secretEcho(clientID, secret string) string {
	return fmt.Sprintf("%s: client_id=%s client_secret=%s was not accepted", HostileMarker, clientID, secret)
}

// echoSecretReply is the 400 invalid_client of secret-echo and Faults.EchoSecret: an OAuth
// error and a Personio error body in one, as formats vary in practice, quoting the client id
// and secret in the description, the error's title and detail, and meta.
func echoSecretReply(clientID, secret string) response {
	echo := secretEcho(clientID, secret)
	return response{status: http.StatusBadRequest, contentType: "application/problem+json", body: mustJSON(map[string]any{
		"error": "invalid_client", "error_description": echo,
		"errors":            []errorItem{{Title: "Invalid client " + echo, Detail: echo, Type: errorDocs + "credentials.oauth2.invalid_client"}},
		"personio_trace_id": traceID(), "timestamp": time.Now().UTC().Format(time.RFC3339),
		"meta": map[string]any{"client_secret": secret},
	})}
}

// personTargets are the persons the item cases change, taken under the data lock.
type personTargets struct {
	newest, first []byte // the served JSON of the newest and the first person
}

func (d *dataset) personTargets() personTargets {
	if len(d.persons) == 0 {
		return personTargets{}
	}
	return personTargets{newest: d.persons[len(d.persons)-1].json, first: d.persons[0].json}
}

// hostilePersonsPage answers a persons listing request with a cursor under persons-redirect;
// ok is false when the request is served as usual.
func (s *Server) hostilePersonsPage(r *http.Request, cursor bool) (response, bool) {
	if !cursor || !s.hostileNow()[HostilePersonsRedirect] {
		return response{}, false
	}
	return redirectTo(s.otherURL(), http.StatusFound, r), true
}

// hostileUpdated is the updated_at a persons filter sees for p.
func (s *Server) hostileUpdated(h hostileSet, p *personRec, t personTargets) time.Time {
	if h[HostileFutureUpdated] && t.newest != nil && bytes.Equal(p.json, t.newest) {
		ts, _ := time.Parse(time.RFC3339, HostileFutureUpdatedAt)
		return ts
	}
	return p.updated
}

// hostilePersons changes the items of one persons page; last says whether it is the last page.
func hostilePersons(h hostileSet, items [][]byte, t personTargets, last bool) [][]byte {
	if len(h) == 0 || t.newest == nil {
		return items
	}
	out := make([][]byte, 0, len(items)+1)
	for _, it := range items {
		if bytes.Equal(it, t.newest) {
			switch {
			case h[HostileIDMissing]:
				it = withField(it, "id", nil, true)
			case h[HostileIDNull]:
				it = withField(it, "id", json.RawMessage("null"), false)
			}
			if h[HostileDateYearZero] {
				it = withField(it, "created_at", HostileYearZero, false)
			}
			if h[HostileFutureUpdated] {
				it = withField(it, "updated_at", HostileFutureUpdatedAt, false)
			}
			if h[HostileHuge] {
				it = withField(it, "first_name", HostileHugeName, false)
			}
			if h[HostileControlChars] {
				it = withField(it, "last_name", HostileControlName, false)
			}
		}
		out = append(out, it)
	}
	if h[HostileIDDuplicate] && last {
		out = append(out, withField(t.first, "first_name", HostileMarker, false))
	}
	return out
}

// hostileCompensations changes the newest compensation of a page.
func hostileCompensations(h hostileSet, items [][]byte, newest []byte) [][]byte {
	if !h[HostileAmount] || newest == nil {
		return items
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		if bytes.Equal(it, newest) {
			var m map[string]json.RawMessage
			if json.Unmarshal(it, &m) == nil {
				amount := withField(m["amount"], "value", HostileBadAmount, false)
				it = withField(it, "amount", json.RawMessage(amount), false)
			}
		}
		out[i] = it
	}
	return out
}

// withField returns the JSON object obj with field set to v (or removed).
func withField(obj []byte, field string, v any, remove bool) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return obj
	}
	if remove {
		delete(m, field)
	} else {
		raw, ok := v.(json.RawMessage)
		if !ok {
			raw = mustJSON(v)
		}
		m[field] = raw
	}
	return mustJSON(m)
}

func (s *Server) adminPutHostile(w http.ResponseWriter, r *http.Request) {
	var cases []Hostile
	if !readAdminBody(w, r, &cases, "a JSON list of hostile cases") {
		return
	}
	if err := s.SetHostile(cases); err != nil {
		adminError(w, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, HostileState{Cases: s.Hostile(), OtherOrigin: s.OtherOrigin()})
}

func (s *Server) adminGetHostile(w http.ResponseWriter, _ *http.Request) {
	writeAdminJSON(w, http.StatusOK, HostileState{Cases: s.Hostile(), OtherOrigin: s.OtherOrigin()})
}
