package tenant

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/admin"
	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/group"
	"github.com/personio-cdc/personio-cdc/internal/redact"
	"github.com/personio-cdc/personio-cdc/internal/refresh"
	"github.com/personio-cdc/personio-cdc/internal/service"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// State is the /status view of one configured tenant in this process.
type State struct {
	Tenant string `json:"tenant"`
	// State is running, stopped (on an error no retry fixes), not_owned (another instance of
	// the group runs it) or starting (owned, waiting for Loop).
	State string `json:"state"`
	// Reason and Error say why a stopped tenant stopped (see the Reason constants).
	Reason string    `json:"reason,omitempty"`
	Error  string    `json:"error,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	// Schedule and EmploymentRefresh are the running tenant's.
	Schedule          *service.ScheduleStatus `json:"schedule,omitempty"`
	EmploymentRefresh *refresh.Status         `json:"employment_refresh,omitempty"`
}

// Status is the /status document of a process running tenants: service.Status with every
// started tenant in Tenants and Activity (sorted by name), and TenantStates listing every
// configured tenant. With one tenant, Schedule and EmploymentRefresh are its own, as before.
type Status struct {
	service.Status
	TenantStates []State `json:"tenant_states"`
	// Group is this instance's membership of the consumer group (GROUP_ID); absent outside one.
	Group *group.Status `json:"group,omitempty"`
}

// ReportGroup makes /status show the consumer group membership fn returns (group.Group.Status).
func (m *Manager) ReportGroup(fn func() group.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groupStatus = fn
}

// States returns the state of every configured tenant, in configuration order.
func (m *Manager) States() []State {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]State, 0, len(m.configs))
	for _, c := range m.configs {
		name := c.Personio.Tenant
		u, ok := m.units[name]
		if !ok {
			st := State{Tenant: name, State: StateNotOwned}
			if m.desired(name) {
				st.State = StateStarting // Loop starts it
			}
			out = append(out, st)
			continue
		}
		u.mu.Lock()
		st := State{Tenant: name, State: u.state, Reason: u.reason, Error: u.err, Since: u.since}
		u.mu.Unlock()
		if u.svc != nil {
			sch := u.svc.Scheduler.Status()
			st.Schedule = &sch
			st.EmploymentRefresh = u.svc.Scheduler.RefreshStatus()
		}
		out = append(out, st)
	}
	return out
}

// Status returns the /status document; base is the process configuration (Settings).
func (m *Manager) Status(version string, started time.Time, base config.Config) Status {
	st := Status{Status: service.Status{Service: "personio-cdc", Version: version, Started: started,
		Settings: base, Tenants: []syncrun.Status{}, Activity: []service.Activity{}}}
	st.TenantStates = m.States()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.groupStatus != nil {
		gs := m.groupStatus()
		st.Group = &gs
	}
	for _, c := range m.configs {
		u, ok := m.units[c.Personio.Tenant]
		if !ok || u.svc == nil {
			continue
		}
		st.Tenants = append(st.Tenants, u.stack.Runner.Status())
		st.Activity = append(st.Activity, u.svc.Activity())
	}
	if len(m.configs) == 1 {
		if u, ok := m.units[m.configs[0].Personio.Tenant]; ok && u.svc != nil {
			st.Schedule = u.svc.Scheduler.Status()
			st.EmploymentRefresh = u.svc.Scheduler.RefreshStatus()
		}
	}
	return st
}

// redactor redacts the secrets of base and of every configured tenant.
func (m *Manager) redactor(base config.Config) *redact.Redactor {
	m.mu.Lock()
	defer m.mu.Unlock()
	secrets := func(c config.Config) []string {
		return []string{c.Personio.ClientSecret.Value(), c.Kafka.SASLPassword.Value(),
			c.SchemaRegistry.Password.Value(), c.Sync.FieldPolicyHashKey.Value(), c.Webhook.Token.Value()}
	}
	all := secrets(base)
	for _, c := range m.configs {
		all = append(all, secrets(c)...)
	}
	return redact.New(all...)
}

// Lifecycle returns the long-running service for `run`: the tenants' schedules, the admin
// server on base's ADMIN_ADDR serving reg and every tenant's metrics, the readiness checks of
// the shared clients, and /status with every tenant.
func (m *Manager) Lifecycle(reg *prometheus.Registry, version string, base config.Config) (*service.Lifecycle, error) {
	started := time.Now().UTC()
	l := &service.Lifecycle{
		Scheduler:       m,
		ShutdownTimeout: base.Admin.ShutdownTimeout,
		Close:           m.opts.Kafka.Close,
		Logger:          m.logger,
	}
	checks := []admin.Check{
		{Name: "shutdown", Func: l.Stopping},
		{Name: "kafka", Func: m.opts.Kafka.Ping},
		{Name: "schema-registry", Func: m.opts.Registry.Ping},
		{Name: "schema-ids", Func: m.opts.Registry.CheckIDs},
	}
	srv, err := admin.New(admin.Options{
		Addr:       base.Admin.Addr,
		Gatherer:   prometheus.Gatherers{reg, m},
		Registerer: reg,
		Ready:      checks,
		Status: func() any {
			raw, err := m.redactor(base).JSON(m.Status(version, started, base))
			if err != nil {
				return map[string]string{"error": "status not available"}
			}
			return raw
		},
		Logger: m.logger.With("component", "admin"),
	})
	if err != nil {
		return nil, err
	}
	l.Admin = srv
	return l, nil
}

var _ service.Looper = (*Manager)(nil)
