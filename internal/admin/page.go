package admin

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The status page at / renders the /status document for a person: it decodes what Status
// returns (already redacted, and free of personal data: codes, counts, times) into the fields
// below and shows only those. Ids (sync ids, Personio trace ids) and error texts are left out;
// an error shows as its code and the code's message.

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("status").Parse(pageHTML))

// PageRefresh is how often the status page reloads itself (meta refresh).
const PageRefresh = 15 * time.Second

// statusDoc is the part of the /status document the page shows.
type statusDoc struct {
	Service  string       `json:"service"`
	Version  string       `json:"version"`
	Started  time.Time    `json:"started"`
	Tenants  []docTenant  `json:"tenants"`
	Schedule *docSchedule `json:"schedule"`
	// TenantStates lists every configured tenant of a process (running here or not) and
	// Group its consumer group membership; both absent from an older document.
	TenantStates []docState    `json:"tenant_states"`
	Group        *docGroup     `json:"group"`
	Activity     []docActivity `json:"activity"`
}

type docSchedule struct {
	NextFull        time.Time `json:"next_full_sync"`
	NextIncremental time.Time `json:"next_incremental_sync"`
	FullSyncRetry   *struct {
		ConsecutiveFailures int       `json:"consecutive_failures"`
		Reason              string    `json:"reason"`
		Outcome             string    `json:"outcome"`
		BackoffSeconds      float64   `json:"backoff_seconds"`
		NextAttempt         time.Time `json:"next_attempt"`
	} `json:"full_sync_retry"`
}

type docState struct {
	Tenant   string       `json:"tenant"`
	State    string       `json:"state"`
	Reason   string       `json:"reason"`
	Since    time.Time    `json:"since"`
	Schedule *docSchedule `json:"schedule"`
}

type docGroup struct {
	GroupID            string   `json:"group_id"`
	Generation         int32    `json:"generation"`
	Partitions         int      `json:"partitions"`
	AssignedPartitions int      `json:"assigned_partitions"`
	OwnedTenants       []string `json:"owned_tenants"`
}

type docTenant struct {
	Tenant  string `json:"tenant"`
	Running bool   `json:"running"`
	Last    *struct {
		Kind     string    `json:"kind"`
		Outcome  string    `json:"outcome"`
		Started  time.Time `json:"started"`
		Ended    time.Time `json:"ended"`
		Entities []struct {
			Entity string `json:"entity"`
			Guard  string `json:"guard"`
		} `json:"entities"`
	} `json:"last_result"`
	Entities []struct {
		Entity          string         `json:"entity"`
		Phase           string         `json:"phase"`
		LastKind        string         `json:"last_kind"`
		LastEnd         time.Time      `json:"last_end"`
		LastSuccess     time.Time      `json:"last_success"`
		Extracted       int            `json:"extracted"`
		Changes         map[string]int `json:"changes"`
		StateEntities   int            `json:"state_entities"`
		LastErrorDetail *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"last_error_detail"`
		DeleteGuardTrip bool `json:"delete_guard_tripped"`
	} `json:"entities"`
}

type docActivity struct {
	Tenant        string                    `json:"tenant"`
	EventsLast24h map[string]map[string]int `json:"events_last_24h"`
	PersonioAPI   *struct {
		Requests           int64   `json:"requests"`
		RateLimited        int64   `json:"rate_limited"`
		Retries            int64   `json:"retries"`
		LimiterWaitSeconds float64 `json:"limiter_wait_seconds"`
		Budgets            []struct {
			Budget              string  `json:"budget"`
			PerMinute           float64 `json:"per_minute"`
			ConfiguredPerMinute float64 `json:"configured_per_minute"`
		} `json:"budgets"`
	} `json:"personio_api"`
}

// The ops of change events, in the order the page shows them.
var pageOps = []struct{ Op, Name string }{{"c", "Created"}, {"u", "Updated"}, {"d", "Deleted"}, {"r", "Snapshot"}}

// pageData is what the template renders: strings and numbers, formatted here.
type pageData struct {
	Refresh int
	Now     string
	Service string
	Version string
	Started string
	Uptime  string
	Problem string // the status could not be read
	Ops     []string
	OpNames []string
	Columns int // of the entity table, less the first
	Tenants []pageTenant
	// Others are the configured tenants this process does not run now: another instance of
	// the group runs them, or they stopped (the reason code) or are starting.
	Others []pageFact
	Group  []pageFact // the consumer group membership; empty outside a group
}

type pageTenant struct {
	Name     string
	State    string // running or idle
	LastSync string
	Schedule []pageFact // next syncs and the full-sync retry
	Entities []pageEntity
	API      []pageFact
	Budgets  []pageBudget
}

type pageEntity struct {
	Name         string
	Phase        string
	PhaseClass   string
	LastComplete string
	Age          string
	Stale        bool // never completed
	Ops          []pageCount
	Events24h    int
	Events24hOps string
	Extracted    int
	InState      int
	Guard        string
	ErrorCode    string
	ErrorMessage string
}

type pageCount struct {
	Op string
	N  int
}

type pageFact struct {
	Key, Label, Value string
	Warn              bool
}

type pageBudget struct {
	Budget, PerMinute, Configured string
	Lowered                       bool // below the configured rate: after a 429, or Personio announces less
}

func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	data := s.pageData(s.now())
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, data); err != nil {
		s.opts.Logger.Warn("status page", "err", err)
		http.Error(w, "status page not available", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

func (s *Server) pageData(now time.Time) pageData {
	d := pageData{Refresh: int(PageRefresh.Seconds()), Now: clock(now), Service: "personio-cdc"}
	for _, o := range pageOps {
		d.Ops = append(d.Ops, o.Op)
		d.OpNames = append(d.OpNames, o.Name)
	}
	d.Columns = len(pageOps) + 7
	if s.opts.Status == nil {
		d.Problem = "This server has no status to show."
		return d
	}
	var doc statusDoc
	raw, err := json.Marshal(s.opts.Status())
	if err == nil {
		err = json.Unmarshal(raw, &doc)
	}
	if err != nil {
		d.Problem = "The status could not be read; see /status."
		return d
	}
	if doc.Service != "" {
		d.Service = doc.Service
	}
	d.Version = doc.Version
	if !doc.Started.IsZero() {
		d.Started = clock(doc.Started)
		d.Uptime = span(now.Sub(doc.Started))
	}
	states := map[string]docState{}
	for _, st := range doc.TenantStates {
		states[st.Tenant] = st
	}
	running := map[string]bool{}
	for _, t := range doc.Tenants {
		running[t.Tenant] = true
		v := tenantView(t, activityOf(doc.Activity, t.Tenant), now)
		sc := doc.Schedule // one tenant's process: its schedule
		if st, ok := states[t.Tenant]; ok && st.Schedule != nil {
			sc = st.Schedule
		}
		v.Schedule = scheduleFacts(sc, now)
		d.Tenants = append(d.Tenants, v)
	}
	for _, st := range doc.TenantStates {
		if running[st.Tenant] {
			continue
		}
		f := pageFact{Key: "tenant-" + st.Tenant, Label: st.Tenant, Value: strings.ReplaceAll(st.State, "_", " ")}
		switch st.State {
		case "stopped":
			f.Value, f.Warn = fmt.Sprintf("stopped: %s, since %s (%s ago)", st.Reason, clock(st.Since), span(now.Sub(st.Since))), true
		case "not_owned":
			f.Value = "another instance of the group runs it"
		}
		d.Others = append(d.Others, f)
	}
	if g := doc.Group; g != nil {
		d.Group = []pageFact{
			{Key: "group-id", Label: "Consumer group", Value: g.GroupID},
			{Key: "group-generation", Label: "Generation", Value: strconv.Itoa(int(g.Generation)), Warn: g.Generation < 0},
			{Key: "group-partitions", Label: "Work partitions held", Value: fmt.Sprintf("%d of %d", g.AssignedPartitions, g.Partitions)},
			{Key: "group-owned", Label: "Tenants run here", Value: fmt.Sprintf("%d of %d configured", len(g.OwnedTenants), len(doc.TenantStates))},
		}
	}
	if len(doc.Tenants) == 0 && len(doc.TenantStates) == 0 {
		d.Problem = "No tenant is configured."
	}
	return d
}

// scheduleFacts are a tenant's next syncs and its full-sync retry; none when sc is nil.
func scheduleFacts(sc *docSchedule, now time.Time) []pageFact {
	if sc == nil {
		return nil
	}
	facts := []pageFact{
		{Key: "next-full", Label: "Next full sync", Value: due(sc.NextFull, now)},
		{Key: "next-incremental", Label: "Next incremental sync", Value: due(sc.NextIncremental, now)}}
	r := sc.FullSyncRetry
	if r == nil {
		return append(facts, pageFact{Key: "retry", Label: "Full-sync retry", Value: "none due"})
	}
	return append(facts, []pageFact{
		{Key: "retry-failures", Label: "Consecutive failed or partial full syncs", Value: strconv.Itoa(r.ConsecutiveFailures), Warn: true},
		{Key: "retry-reason", Label: "Reason", Value: r.Reason + " (" + r.Outcome + ")"},
		{Key: "retry-backoff", Label: "Backoff", Value: span(time.Duration(r.BackoffSeconds * float64(time.Second)))},
		{Key: "retry-next", Label: "Next attempt", Value: due(r.NextAttempt, now)},
	}...)
}

func activityOf(as []docActivity, tenant string) *docActivity {
	for i := range as {
		if as[i].Tenant == tenant {
			return &as[i]
		}
	}
	return nil
}

func tenantView(t docTenant, act *docActivity, now time.Time) pageTenant {
	v := pageTenant{Name: t.Tenant, State: "idle", LastSync: "none yet"}
	if t.Running {
		v.State = "sync running"
	}
	guards := map[string]string{}
	if l := t.Last; l != nil {
		v.LastSync = fmt.Sprintf("%s, %s, ended %s (%s ago, took %s)", l.Kind, l.Outcome, clock(l.Ended),
			span(now.Sub(l.Ended)), span(l.Ended.Sub(l.Started)))
		for _, e := range l.Entities {
			guards[e.Entity] = e.Guard
		}
	}
	for _, e := range t.Entities {
		ev := pageEntity{Name: e.Entity, Phase: e.Phase, PhaseClass: strings.ToLower(e.Phase),
			Extracted: e.Extracted, InState: e.StateEntities, LastComplete: "never", Age: "–", Stale: true}
		if !e.LastSuccess.IsZero() {
			ev.LastComplete, ev.Age, ev.Stale = clock(e.LastSuccess), span(now.Sub(e.LastSuccess)), false
		}
		for _, o := range pageOps {
			ev.Ops = append(ev.Ops, pageCount{Op: o.Op, N: e.Changes[o.Op]})
		}
		if e.DeleteGuardTrip {
			ev.Guard = "tripped"
			if g := guards[e.Entity]; g != "" {
				ev.Guard = strings.ReplaceAll(g, "_", "-")
			}
		}
		if ed := e.LastErrorDetail; ed != nil {
			ev.ErrorCode, ev.ErrorMessage = ed.Code, ed.Message
		}
		if act != nil {
			ops := act.EventsLast24h[e.Entity]
			var parts []string
			for _, op := range slices.Sorted(maps.Keys(ops)) {
				ev.Events24h += ops[op]
				parts = append(parts, fmt.Sprintf("%s %d", op, ops[op]))
			}
			if len(parts) > 1 {
				ev.Events24hOps = strings.Join(parts, " · ")
			}
		}
		v.Entities = append(v.Entities, ev)
	}
	if act != nil && act.PersonioAPI != nil {
		api := act.PersonioAPI
		v.API = []pageFact{
			{Key: "api-requests", Label: "Requests", Value: strconv.FormatInt(api.Requests, 10)},
			{Key: "api-429", Label: "429 Too Many Requests", Value: strconv.FormatInt(api.RateLimited, 10), Warn: api.RateLimited > 0},
			{Key: "api-retries", Label: "Retries", Value: strconv.FormatInt(api.Retries, 10)},
			{Key: "api-wait", Label: "Rate limiter waits (summed)", Value: span(time.Duration(api.LimiterWaitSeconds * float64(time.Second)))},
		}
		for _, b := range api.Budgets {
			v.Budgets = append(v.Budgets, pageBudget{Budget: b.Budget, PerMinute: perMinute(b.PerMinute),
				Configured: perMinute(b.ConfiguredPerMinute), Lowered: b.PerMinute < b.ConfiguredPerMinute*0.999})
		}
	}
	return v
}

// clock renders an instant in UTC to the second.
func clock(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// due renders when something is due: the instant and how far off it is.
func due(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "not scheduled"
	case t.After(now):
		return clock(t) + " (in " + span(t.Sub(now)) + ")"
	default:
		return clock(t) + " (due now)"
	}
}

// span renders a duration to its two largest units: "3d 4h", "2h 5m", "4m 12s", "3s", "0.25s".
func span(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Second {
		return strconv.FormatFloat(math.Round(d.Seconds()*100)/100, 'f', -1, 64) + "s"
	}
	d = d.Round(time.Second)
	days, h, m, s := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// perMinute renders a request rate per minute.
func perMinute(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + "/min"
}
