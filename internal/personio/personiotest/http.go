package personiotest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// response is a reply before faults are applied to it.
type response struct {
	status      int
	contentType string
	body        []byte
	location    string      // Location header of a redirect
	header      http.Header // extra headers, e.g. Retry-After
}

const errorDocs = "https://developer.personio.de/reference/errors#"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v2/auth/token", s.api(bucketToken, s.handleToken))
	mux.Handle("POST /v2/auth/revoke", s.api(bucketToken, s.handleRevoke))
	mux.Handle("GET /v2/persons", s.api(bucketAPI, s.listPersons))
	mux.Handle("GET /v2/persons/{id}", s.api(bucketAPI, s.getPerson))
	mux.Handle("GET /v2/persons/{id}/profile-picture", s.api(bucketAPI, s.getProfilePicture))
	mux.Handle("GET /v2/persons/{person_id}/employments", s.api(bucketAPI, s.listEmployments))
	mux.Handle("GET /v2/persons/{person_id}/employments/{id}", s.api(bucketAPI, s.getEmployment))
	mux.Handle("GET /v2/compensations", s.api(bucketCompensation, s.listCompensations))
	mux.Handle("POST /v2/webhooks", s.api(bucketAPI, s.createWebhook))
	mux.Handle("GET /v2/webhooks", s.api(bucketAPI, s.listWebhooks))
	mux.Handle("GET /v2/webhooks/{id}", s.api(bucketAPI, s.getWebhook))
	mux.Handle("PATCH /v2/webhooks/{id}", s.api(bucketAPI, s.updateWebhook))
	mux.Handle("DELETE /v2/webhooks/{id}", s.api(bucketAPI, s.deleteWebhook))
	mux.Handle("GET /v2/webhooks/{id}/events", s.api(bucketAPI, s.listWebhookEvents))
	mux.HandleFunc("POST /admin/churn", s.adminChurn)
	mux.HandleFunc("GET /admin/truth", s.adminTruth)
	mux.HandleFunc("PUT /admin/faults", s.adminPutFaults)
	mux.HandleFunc("GET /admin/faults", s.adminGetFaults)
	mux.HandleFunc("GET /admin/stats", s.adminStats)
	mux.HandleFunc("GET /admin/webhooks", s.adminWebhooks)
	mux.HandleFunc("PUT /admin/hidden-fields", s.adminPutHidden)
	mux.HandleFunc("GET /admin/hidden-fields", s.adminGetHidden)
	mux.HandleFunc("PUT /admin/hostile", s.adminPutHostile)
	mux.HandleFunc("GET /admin/hostile", s.adminGetHostile)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		resp := errorResponse(http.StatusNotFound, "Resource not found", "There is no such endpoint.", "common.resource_not_found")
		s.stats.record("unmatched", resp.status, "")
		writeResponse(w, resp)
	})
	return mux
}

// api wraps an API endpoint with latency, authentication, rate limiting, faults and stats.
// Token endpoints authenticate and rate-limit themselves (by client_id).
func (s *Server) api(kind bucketKind, h func(w http.ResponseWriter, r *http.Request, client string) response) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := kind // this request's budget; the closure's is shared by every request
		if kind == bucketCompensation {
			kind = s.compensationBucket(s.opts.Now())
		}
		f, roll, jitter := s.faultRoll()
		// The latency is the backend's: Personio's gateway authenticates and rate-limits a
		// request when it arrives (as Spring Cloud Gateway's RequestRateLimiter, whose
		// x-ratelimit-* headers it sends), so 401 and 429 replies come back without it.
		latency := func() {
			if d := f.Latency + time.Duration(jitter*float64(f.LatencyJitter)); d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
				}
			}
		}
		var resp response
		fault := ""
		if kind != bucketToken {
			release := func() {} // of a compensation request's place among those in progress
			client, ok := s.authenticate(r)
			if !ok {
				// Not charged; the headers show the configured credential's budget.
				s.limits.peek(s.opts.ClientID, kind, s.opts.Now(), w.Header())
				resp = errorResponse(http.StatusUnauthorized, "Unauthorized", "The access token is missing, expired, revoked or unknown.", "common.unauthorized")
				s.finish(w, r, resp, "")
				return
			}
			if !s.limits.allow(client, kind, s.opts.Now(), w.Header()) {
				resp = errorResponse(http.StatusTooManyRequests, "Too many requests", "The rate limit was exceeded.", "common.too_many_requests")
				s.finish(w, r, resp, "")
				return
			}
			if kind == bucketCompensation || kind == bucketCompensationEarly {
				var (
					resp response
					ok   bool
				)
				release, resp, ok = s.compensationGate(r, client)
				if !ok {
					s.finish(w, r, resp, "")
					return
				}
				defer release() // for the paths that end early; release runs once
			}
			latency()
			if f.RedirectAPI != "" {
				s.finish(w, r, redirectTo(f.RedirectAPI, http.StatusFound, r), "redirect")
				return
			}
			fault = pickFault(f, roll)
			resp = s.faultedOr(fault, func() response { return h(w, r, client) })
			// The request is done once its reply is ready: a client may have read the whole
			// reply and sent its next request before this handler returns.
			release()
		} else {
			latency()
			if f.RedirectToken != "" {
				s.finish(w, r, redirectTo(f.RedirectToken, http.StatusTemporaryRedirect, r), "redirect")
				return
			}
			if f.TokenFaults {
				fault = pickFault(f, roll)
			}
			resp = s.faultedOr(fault, func() response { return h(w, r, "") })
		}
		if fault == "reset" {
			s.stats.record(r.Pattern, 0, fault)
			resetConnection(w)
			return
		}
		s.finish(w, r, resp, fault)
	})
}

// redirectTo answers with status and a Location on origin with r's path and query.
func redirectTo(origin string, status int, r *http.Request) response {
	u := strings.TrimRight(origin, "/") + r.URL.Path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return response{status: status, location: u}
}

// endless returns next, or under Faults.EndlessEmptyPages, when next is empty (the listing
// ends), a fresh cursor of kind past every item: the page it names is empty and again has a
// next link.
func (s *Server) endless(kind byte, next string) string {
	if next != "" || !s.hostileFaults(s.Faults()).EndlessEmptyPages {
		return next
	}
	return encodeCursor(kind, endlessCursorBase+s.endlessSeq.Add(1))
}

// endlessCursorBase is beyond every sequence number an item gets.
const endlessCursorBase = 1 << 62

// faultedOr returns the error reply of a 5xx fault, or runs h.
func (s *Server) faultedOr(fault string, h func() response) response {
	switch fault {
	case "500", "502", "503", "504":
		code, _ := strconv.Atoi(fault)
		return errorResponse(code, http.StatusText(code), "Injected fault.", "common.server_error")
	case "reset":
		return response{}
	}
	return h()
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request, resp response, fault string) {
	body := resp.body
	switch fault {
	case "truncate":
		w.Header().Set("Content-Type", resp.contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(resp.status)
		_, _ = w.Write(body[:len(body)/2])
		s.stats.record(r.Pattern, resp.status, fault)
		// The server closes the connection: fewer bytes than announced were written.
		return
	case "malformed":
		bad := append(bytes.Clone(body[:len(body)/2]), []byte(`<!-- upstream error -->`)...)
		resp.body = bad
	}
	s.stats.record(r.Pattern, resp.status, fault)
	writeResponse(w, resp)
}

func writeResponse(w http.ResponseWriter, resp response) {
	if resp.location != "" {
		w.Header().Set("Location", resp.location)
	}
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	if resp.contentType != "" {
		w.Header().Set("Content-Type", resp.contentType)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// resetConnection drops the connection without a reply (RST where the platform allows).
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// faultRoll returns the faults in effect and two uniform draws in [0,1) for this request:
// one picks the fault, the other the latency jitter.
func (s *Server) faultRoll() (f Faults, roll, jitter float64) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.hostileFaults(s.faults), s.rng.Float64(), s.rng.Float64()
}

// pickFault maps a uniform draw onto the fault probabilities.
func pickFault(f Faults, roll float64) string {
	for _, c := range []struct {
		p    float64
		kind string
	}{
		{f.P500, "500"}, {f.P502, "502"}, {f.P503, "503"}, {f.P504, "504"},
		{f.Reset, "reset"}, {f.Truncate, "truncate"}, {f.Malformed, "malformed"},
	} {
		if roll < c.p {
			return c.kind
		}
		roll -= c.p
	}
	return ""
}

func (s *Server) authenticate(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		if tok, ok = strings.CutPrefix(h, "bearer "); !ok {
			return "", false
		}
	}
	return s.auth.check(strings.TrimSpace(tok), s.opts.Now())
}

// errorBody is Personio's v2 error response.
type errorBody struct {
	TraceID   string      `json:"personio_trace_id"`
	Timestamp string      `json:"timestamp"`
	Errors    []errorItem `json:"errors"`
}

type errorItem struct {
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Type   string `json:"type"`
}

func traceID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// errorResponse is a problem+json reply of the general API; code is the part of its type
// after errorDocs (e.g. common.bad_request).
func errorResponse(status int, title, detail, code string) response {
	return problemResponse(status, title, errorDocs+code, detail, 0)
}

// problemResponse is a problem+json error reply with type typ; retryAfter > 0 adds the
// Retry-After header (whole seconds, at least 1).
func problemResponse(status int, title, typ, detail string, retryAfter time.Duration) response {
	resp := response{
		status:      status,
		contentType: "application/problem+json",
		body: mustJSON(errorBody{
			TraceID:   traceID(),
			Timestamp: time.Now().UTC().Format(time.RFC3339),
			Errors:    []errorItem{{Title: title, Detail: detail, Type: typ}},
		}),
	}
	if retryAfter > 0 {
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		resp.header = http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}
	}
	return resp
}

func badRequest(detail string) response {
	return errorResponse(http.StatusBadRequest, "Bad request", detail, "common.bad_request")
}

func notFound(detail string) response {
	return errorResponse(http.StatusNotFound, "Resource not found", detail, "common.resource_not_found")
}

func jsonResponse(body []byte) response {
	return response{status: http.StatusOK, contentType: "application/json", body: body}
}

// --- token endpoints ---

type tokenError struct {
	Error            string         `json:"error"`
	ErrorDescription string         `json:"error_description,omitempty"`
	ErrorURI         string         `json:"error_uri,omitempty"`
	Timestamp        string         `json:"timestamp"`
	TraceID          string         `json:"trace_id"`
	Meta             map[string]any `json:"meta,omitempty"`
}

func oauthError(code, desc, uri string, meta map[string]any) response {
	return response{
		status:      http.StatusBadRequest,
		contentType: "application/problem+json",
		body: mustJSON(tokenError{
			Error: code, ErrorDescription: desc, ErrorURI: errorDocs + uri,
			Timestamp: time.Now().UTC().Format(time.RFC3339), TraceID: traceID(), Meta: meta,
		}),
	}
}

func isForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, _ string) response {
	if !isForm(r) {
		return oauthError("invalid_request", `The content type of the request must be "application/x-www-form-urlencoded".`,
			"credentials.oauth2.invalid_request.invalid_request_content_type", nil)
	}
	if err := r.ParseForm(); err != nil {
		return oauthError("invalid_request", "The request body could not be parsed.", "credentials.oauth2.invalid_request", nil)
	}
	form := r.PostForm
	clientID := form.Get("client_id")
	if !s.limits.allow("token:"+clientID, bucketToken, s.opts.Now(), w.Header()) {
		return errorResponse(http.StatusTooManyRequests, "Too many requests", "The rate limit was exceeded.", "common.too_many_requests")
	}
	var missing []string
	for _, k := range []string{"grant_type", "client_id", "client_secret"} {
		if form.Get(k) == "" {
			missing = append(missing, k)
		}
	}
	if gt := form.Get("grant_type"); gt != "" && gt != "client_credentials" {
		return oauthError("unsupported_grant_type", "The requested authorization grant type is not supported by the server.",
			"credentials.oauth2.unsupported_grant_type", map[string]any{"grant_type": gt})
	}
	if len(missing) > 0 {
		return oauthError("invalid_request", "The request has missing or invalid required parameters.",
			"credentials.oauth2.invalid_request.required_parameters_missing", map[string]any{"missing_parameters": missing})
	}
	f := s.hostileFaults(s.Faults())
	if f.EchoSecret {
		return echoSecretReply(clientID, form.Get("client_secret"))
	}
	if clientID != s.auth.clientID {
		return oauthError("invalid_client", "Client authentication failed (e.g., unknown client, wrong secret, no client authentication included, or unsupported authentication method).",
			"credentials.oauth2.invalid_client", nil)
	}
	if form.Get("client_secret") != s.auth.clientSecret {
		return oauthError("unauthorized_client", "The credentials were not correct. Make sure you are providing the right client_id and client_secret.",
			"credentials.oauth2.unauthorized_client", nil)
	}
	if resp, ok := s.hostileToken(); ok {
		return resp
	}
	tok := s.auth.issue(clientID, s.opts.Now(), f.TokenTTL)
	reply := map[string]any{
		"access_token": tok,
		"expires_in":   int64(s.opts.TokenTTL / time.Second),
		"token_type":   "Bearer",
		"scope":        scope,
	}
	switch {
	case f.OmitExpiresIn:
		delete(reply, "expires_in")
	case f.ExpiresIn != 0:
		reply["expires_in"] = f.ExpiresIn
	}
	return jsonResponse(mustJSON(reply))
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request, _ string) response {
	if !isForm(r) {
		return oauthError("invalid_request", `The content type of the request must be "application/x-www-form-urlencoded".`,
			"credentials.oauth2.invalid_request.invalid_request_content_type", nil)
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		return oauthError("invalid_request", "The request has missing or invalid required parameters.",
			"credentials.oauth2.invalid_request.required_parameters_missing", map[string]any{"missing_parameters": []string{"token"}})
	}
	if !s.limits.allow("token:revoke", bucketToken, s.opts.Now(), w.Header()) {
		return errorResponse(http.StatusTooManyRequests, "Too many requests", "The rate limit was exceeded.", "common.too_many_requests")
	}
	s.auth.revoke(r.PostForm.Get("token"))
	return response{status: http.StatusOK}
}

// --- pagination ---

func encodeCursor(kind byte, seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte{kind, ':'}) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(seq, 10)))
}

func decodeCursor(kind byte, c string) (uint64, bool) {
	prefix, rest, ok := strings.Cut(c, ".")
	if !ok {
		return 0, false
	}
	p, err := base64.RawURLEncoding.DecodeString(prefix)
	if err != nil || len(p) != 2 || p[0] != kind {
		return 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	return n, err == nil
}

// absolute returns the request's URL with the query q, absolute, from its Host.
func absolute(r *http.Request, q url.Values) string {
	u := url.URL{Scheme: scheme(r), Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	return u.String()
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// onOrigin puts the origin the client asked (scheme and Host) in place of simOrigin in the
// stored JSON of persons and employments, so their links lead back to this simulator as the
// client reaches it, and PublicURL in place of pictureOrigin.
func (s *Server) onOrigin(r *http.Request, items [][]byte) [][]byte {
	origin := []byte(scheme(r) + "://" + r.Host)
	public := []byte(s.PublicURL())
	out := make([][]byte, len(items))
	for i, it := range items {
		it = bytes.ReplaceAll(it, simOriginBytes, origin)
		out[i] = bytes.ReplaceAll(it, pictureOriginBytes, public)
	}
	return out
}

var simOriginBytes, pictureOriginBytes = []byte(simOrigin), []byte(pictureOrigin)

type link struct {
	Href string `json:"href"`
}

// page writes {"_data":[items],"_meta":{"links":{"self","next"}}}. next is empty on the last page.
func page(r *http.Request, items [][]byte, next string) []byte {
	n := 64
	for _, it := range items {
		n += len(it) + 1
	}
	var b bytes.Buffer
	b.Grow(n + 512)
	b.WriteString(`{"_data":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it)
	}
	links := map[string]link{"self": {Href: absolute(r, r.URL.Query())}}
	if next != "" {
		q := r.URL.Query()
		q.Set("cursor", next)
		links["next"] = link{Href: absolute(r, q)}
	}
	b.WriteString(`],"_meta":{"links":`)
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(links); err != nil {
		panic(err) // strings only: cannot fail
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	b.WriteString(`}}`)
	return b.Bytes()
}

// query is a parsed, validated query string.
type query struct {
	v   url.Values
	err string
}

func newQuery(r *http.Request, allowed ...string) query {
	q := query{v: r.URL.Query()}
	for k := range q.v {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok && q.err == "" {
			q.err = "Unknown query parameter " + strconv.Quote(k) + "."
		}
	}
	return q
}

func (q *query) limit(def, lo, hi int) int {
	s := q.v.Get("limit")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		q.fail("limit must be an integer between " + strconv.Itoa(lo) + " and " + strconv.Itoa(hi) + ".")
		return def
	}
	return n
}

func (q *query) fail(msg string) {
	if q.err == "" {
		q.err = msg
	}
}

func (q *query) cursor(kind byte) uint64 {
	c := q.v.Get("cursor")
	if c == "" {
		return 0
	}
	n, ok := decodeCursor(kind, c)
	if !ok {
		q.fail("The cursor is invalid.")
	}
	return n
}

func (q *query) list(name string) map[string]bool {
	s := q.v.Get(name)
	if s == "" {
		return nil
	}
	m := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			m[p] = true
		}
	}
	return m
}

func (q *query) time(name string) *time.Time {
	s := q.v.Get(name)
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		q.fail("The value of " + name + " is not a valid RFC 3339 date-time.")
		return nil
	}
	return &t
}

func (q *query) date(name string) *time.Time {
	s := q.v.Get(name)
	if s == "" {
		return nil
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		q.fail("The value of " + name + " is not a valid date (YYYY-MM-DD).")
		return nil
	}
	return &t
}

// timeFilter is a created_at or updated_at filter: equal, after, before.
type timeFilter struct{ eq, gt, lt *time.Time }

func (q *query) timeFilter(name string) timeFilter {
	return timeFilter{eq: q.time(name), gt: q.time(name + ".gt"), lt: q.time(name + ".lt")}
}

func (f timeFilter) match(t time.Time) bool {
	return (f.eq == nil || t.Equal(*f.eq)) && (f.gt == nil || t.After(*f.gt)) && (f.lt == nil || t.Before(*f.lt))
}

// --- persons ---

var personParams = []string{"limit", "cursor", "id", "email", "first_name", "last_name", "preferred_name",
	"status", "created_at", "created_at.gt", "created_at.lt", "updated_at", "updated_at.gt", "updated_at.lt"}

func (s *Server) listPersons(_ http.ResponseWriter, r *http.Request, _ string) response {
	q := newQuery(r, personParams...)
	limit := q.limit(10, 1, 50)
	after := q.cursor('p')
	cursor := q.v.Get("cursor") != ""
	ids, emails := q.list("id"), q.list("email")
	first, last, pref := q.v.Get("first_name"), q.v.Get("last_name"), q.v.Get("preferred_name")
	status := q.v.Get("status")
	switch status {
	case "", "ACTIVE", "INACTIVE", "UNSPECIFIED":
	default:
		q.fail("status must be one of ACTIVE, INACTIVE, UNSPECIFIED.")
	}
	created, updated := q.timeFilter("created_at"), q.timeFilter("updated_at")
	if q.err != "" {
		return badRequest(q.err)
	}
	if resp, ok := s.hostilePersonsPage(r, cursor); ok {
		return resp
	}
	h := s.hostileNow()
	var targets personTargets
	lowerEmails := map[string]bool{}
	for e := range emails {
		lowerEmails[strings.ToLower(e)] = true
	}
	match := func(p *personRec) bool {
		return (ids == nil || ids[p.p.ID]) &&
			(emails == nil || lowerEmails[strings.ToLower(p.p.Email)]) &&
			(first == "" || p.p.FirstName == first) &&
			(last == "" || p.p.LastName == last) &&
			(pref == "" || p.p.PreferredName == pref) &&
			(status == "" || p.p.Status == status) &&
			created.match(p.created) && updated.match(s.hostileUpdated(h, p, targets))
	}

	s.mu.RLock()
	d := s.data
	if len(h) > 0 {
		targets = d.personTargets()
	}
	items, next := collectPage(d.persons[d.personIndex(after):], limit, 'p', match,
		func(p *personRec) ([]byte, uint64) { return p.json, p.seq })
	s.mu.RUnlock()
	items = hostilePersons(h, items, targets, next == "")
	return jsonResponse(page(r, s.onOrigin(r, s.hide(items)), s.endless('p', next)))
}

func (s *Server) getPerson(_ http.ResponseWriter, r *http.Request, _ string) response {
	if q := newQuery(r); q.err != "" {
		return badRequest(q.err)
	}
	s.mu.RLock()
	p, ok := s.data.byID[r.PathValue("id")]
	var body []byte
	if ok {
		body = p.json
	}
	s.mu.RUnlock()
	if !ok {
		return notFound("There is no resource for the specified id.")
	}
	return jsonResponse(s.onOrigin(r, [][]byte{s.hiddenNow().strip(body)})[0])
}

// profilePicture is the picture every person with one gets: a 1×1 PNG.
var profilePicture = func() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.NRGBA{R: 0x4a, G: 0x6c, B: 0xd4, A: 0xff})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // an in-memory 1×1 image: cannot fail
	}
	return b.Bytes()
}()

// getProfilePicture serves the picture profile_picture.url names (authenticated, as the API).
func (s *Server) getProfilePicture(_ http.ResponseWriter, r *http.Request, _ string) response {
	if q := newQuery(r); q.err != "" {
		return badRequest(q.err)
	}
	s.mu.RLock()
	p, ok := s.data.byID[r.PathValue("id")]
	has := ok && p.p.ProfilePicture != nil
	s.mu.RUnlock()
	if !has {
		return notFound("There is no resource for the specified id.")
	}
	return response{status: http.StatusOK, contentType: "image/png", body: profilePicture}
}

// --- employments ---

func (s *Server) listEmployments(_ http.ResponseWriter, r *http.Request, _ string) response {
	q := newQuery(r, "limit", "cursor", "id", "updated_at", "updated_at.gt", "updated_at.lt")
	limit := q.limit(10, 1, 50)
	after := q.cursor('e')
	ids := q.list("id")
	updated := q.timeFilter("updated_at")
	if q.err != "" {
		return badRequest(q.err)
	}
	s.mu.RLock()
	p, ok := s.data.byID[r.PathValue("person_id")]
	if !ok {
		s.mu.RUnlock()
		return notFound("There is no resource for the specified id.")
	}
	items := make([][]byte, 0, min(limit, len(p.emps)))
	var lastSeq uint64
	more := false
	for _, e := range p.emps {
		if e.seq <= after || (ids != nil && !ids[e.e.ID]) || !updated.match(e.updated) {
			continue
		}
		if len(items) == limit {
			more = true
			break
		}
		items = append(items, e.json)
		lastSeq = e.seq
	}
	s.mu.RUnlock()
	next := ""
	if more {
		next = encodeCursor('e', lastSeq)
	}
	return jsonResponse(page(r, s.onOrigin(r, items), s.endless('e', next)))
}

func (s *Server) getEmployment(_ http.ResponseWriter, r *http.Request, _ string) response {
	if q := newQuery(r); q.err != "" {
		return badRequest(q.err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.data.byID[r.PathValue("person_id")]
	if !ok {
		return notFound("There is no resource for the specified id.")
	}
	for _, e := range p.emps {
		if e.e.ID == r.PathValue("id") {
			return jsonResponse(s.onOrigin(r, [][]byte{e.json})[0])
		}
	}
	return notFound("There is no resource for the specified id.")
}

// --- compensations ---

func (s *Server) listCompensations(_ http.ResponseWriter, r *http.Request, _ string) response {
	q := newQuery(r, "limit", "cursor", "start_date", "end_date", "person.id", "legal_entity.id")
	limit := q.limit(100, 1, 100)
	after := q.cursor('c')
	persons, entities := q.list("person.id"), q.list("legal_entity.id")
	start, end := q.date("start_date"), q.date("end_date")
	if q.err != "" {
		return badRequest(q.err)
	}
	var from, to time.Time
	switch {
	case start == nil && end == nil:
		from = monthStart(s.opts.Now().UTC())
		to = from.AddDate(0, 1, -1)
	case start == nil || end == nil:
		return badRequest("start_date and end_date must be given together.")
	default:
		from, to = *start, *end
		if to.Before(from) {
			return badRequest("end_date must not be before start_date.")
		}
		if !to.Before(addMonth(from)) {
			return badRequest("The period between start_date and end_date must not exceed one month.")
		}
	}
	keep := func(c *compRec) bool {
		return !c.effective.Before(from) && !c.effective.After(to) &&
			(persons == nil || persons[c.c.Person.ID]) && (entities == nil || entities[c.c.LegalEntity.ID])
	}
	h := s.hostileNow()
	s.mu.RLock()
	if resp, stop := s.tooMuchWork(s.compensationWork(from, to, persons, entities, limit)); stop {
		s.mu.RUnlock()
		return resp
	}
	d := s.data
	var newest []byte
	if h[HostileAmount] && len(d.comps) > 0 {
		newest = d.comps[len(d.comps)-1].json
	}
	items, next := collectPage(d.comps[d.compIndex(after):], limit, 'c', keep,
		func(c *compRec) ([]byte, uint64) { return c.json, c.seq })
	s.mu.RUnlock()
	items = hostileCompensations(h, items, newest)
	return jsonResponse(page(r, s.hide(items), s.endless('c', next)))
}

// collectPage takes the first limit items that keep accepts, in order, and returns their JSON
// and the cursor of the next page ("" when nothing more matches).
func collectPage[T any](all []T, limit int, kind byte, keep func(T) bool, body func(T) ([]byte, uint64)) ([][]byte, string) {
	items := make([][]byte, 0, limit)
	var lastSeq uint64
	for _, it := range all {
		if !keep(it) {
			continue
		}
		if len(items) == limit {
			return items, encodeCursor(kind, lastSeq)
		}
		var b []byte
		b, lastSeq = body(it)
		items = append(items, b)
	}
	return items, ""
}

// --- admin ---

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, err error) {
	writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
}

// readAdminBody decodes the body of an admin PUT (at most 1 MiB, no unknown fields) into v.
// On failure it answers 400, saying the body must be want, and returns false.
func readAdminBody(w http.ResponseWriter, r *http.Request, v any, want string) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		adminError(w, err)
		return false
	}
	if err := strictUnmarshal(b, v); err != nil {
		adminError(w, fmt.Errorf("body must be %s: %w", want, err))
		return false
	}
	return true
}

func (s *Server) adminChurn(w http.ResponseWriter, r *http.Request) {
	var c Churn
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&c); err != nil {
		adminError(w, err)
		return
	}
	writeAdminJSON(w, http.StatusOK, s.Churn(c))
}

func (s *Server) adminTruth(w http.ResponseWriter, _ *http.Request) {
	writeAdminJSON(w, http.StatusOK, s.Truth())
}

func (s *Server) adminPutFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	b := new(bytes.Buffer)
	if _, err := b.ReadFrom(http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
		adminError(w, err)
		return
	}
	if err := json.Unmarshal(b.Bytes(), &f); err != nil {
		adminError(w, err)
		return
	}
	if err := f.Validate(); err != nil {
		adminError(w, err)
		return
	}
	s.SetFaults(f)
	writeAdminJSON(w, http.StatusOK, f)
}

func (s *Server) adminGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeAdminJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) adminStats(w http.ResponseWriter, _ *http.Request) {
	writeAdminJSON(w, http.StatusOK, s.Stats())
}

// adminWebhooks serves WebhookStats: what a test running personio-sim as a process waits on.
func (s *Server) adminWebhooks(w http.ResponseWriter, _ *http.Request) {
	writeAdminJSON(w, http.StatusOK, s.WebhookStats())
}
