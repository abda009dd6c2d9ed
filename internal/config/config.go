// Package config loads the service settings: defaults, then environment variables, then
// command-line flags (flags win). Secrets come from an environment variable or from a file named
// by the same variable with a _FILE suffix, never from a flag, and redact themselves wherever
// they are printed, logged or encoded.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Config is every setting of personio-cdc. The zero value is not useful: start from Default or
// Load.
type Config struct {
	// Tenants says where the tenants come from when one process serves several (TENANTS_FILE);
	// see LoadTenants.
	Tenants        TenantSource
	Personio       Personio
	Kafka          Kafka
	SchemaRegistry SchemaRegistry
	Sync           Sync
	Admin          Admin
	Webhook        Webhook
	Membership     Membership
	Log            Log
}

// TenantSource is the file of tenants (see LoadTenants) and how often it is read again for
// changes (WatchTenants). Without a file the process serves the one tenant of the PERSONIO_*
// settings.
type TenantSource struct {
	File         string
	PollInterval time.Duration
}

// Personio is how to reach and authenticate against the Personio API.
type Personio struct {
	BaseURL      string
	ClientID     string
	ClientSecret Secret
	AppID        string
	PartnerID    string
	// Tenant is the stable name of the Personio account; it prefixes every event key.
	Tenant string
	// RateLimitPerMinute and RateBurst are the budget for all API calls of this tenant.
	RateLimitPerMinute float64
	RateBurst          int
	// CompensationRateLimitPerMinute and CompensationRateBurst are the separate, stricter
	// budget of the compensations endpoint.
	CompensationRateLimitPerMinute float64
	CompensationRateBurst          int
	RequestTimeout                 time.Duration
}

// Kafka is how to reach the brokers and how topics are created.
type Kafka struct {
	Brokers       []string
	TopicPrefix   string
	SASLMechanism string
	SASLUsername  string
	SASLPassword  Secret
	TLSEnabled    bool
	TLSCAFile     string
	// Compression is the producer's codec: none, gzip, snappy, lz4 or zstd.
	Compression string
	// TopicPartitions and ReplicationFactor apply only when the service creates a topic.
	// ReplicationFactor -1 leaves it to the broker's default.replication.factor.
	TopicPartitions   int
	ReplicationFactor int
	// MinCompactionLag is min.compaction.lag.ms of created topics: every single change stays
	// readable at least this long.
	MinCompactionLag time.Duration
	// MaxCompactionLag (max.compaction.lag.ms), SegmentRoll (segment.ms) and DeleteRetention
	// (delete.retention.ms) of created topics bound how long an erased person's values stay
	// readable after their tombstones (README "Erasure").
	MaxCompactionLag time.Duration
	SegmentRoll      time.Duration
	DeleteRetention  time.Duration
}

// Topic returns the topic name of an entity ("persons" → "personio.persons").
func (k Kafka) Topic(entity string) string { return k.TopicPrefix + "." + entity }

// SchemaRegistry is how to reach the Confluent-compatible schema registry.
type SchemaRegistry struct {
	URL      string
	Username string
	Password Secret
}

// Sync is when and how carefully the service syncs.
type Sync struct {
	FullInterval        time.Duration
	IncrementalInterval time.Duration
	// CompensationLookbackMonths is how many months before the current one a full sync lists.
	CompensationLookbackMonths int
	// DeleteGuardRatio is the share of an entity a single sync may delete before the
	// mass-delete guard stops it; DeleteGuardOverride disables the guard.
	DeleteGuardRatio    float64
	DeleteGuardOverride bool
	// EmploymentDetails syncs employments as their own entity (<prefix>.employments): each
	// listed person's employments read, one request per person (every person in a full sync,
	// the persons whose updated_at moved in an incremental one). False leaves the entity out.
	// Persons carry their employment ids either way.
	EmploymentDetails bool
	// Entities are the entities synced (SYNC_ENTITIES); empty: every entity (less the
	// employments when EmploymentDetails is false). Use Synced for the effective list.
	Entities []change.Entity
	// EmploymentRefreshPeriod is the longest a person's employments go without being read
	// again by the rolling refresh (0 disables it); EmploymentRefreshBudgetShare is the
	// largest share of the request budget the refresh may spend (see internal/refresh).
	EmploymentRefreshPeriod      time.Duration
	EmploymentRefreshBudgetShare float64
	// PersonListChains is into how many created_at ranges a full persons listing is split,
	// listed at the same time (1 lists with one cursor chain).
	PersonListChains int
	// CompensationSubWindows is into how many date ranges each compensation month is split
	// (1, the default, lists the month whole; Personio lets at most 2 unfiltered compensation
	// requests be in flight, so more ranges add requests, not speed).
	CompensationSubWindows int
	// PublishBatchSize is how many events one Kafka producer call carries.
	PublishBatchSize int
	// FieldPolicyFile names the YAML field policy (see change.ParsePolicy): which fields are
	// dropped or hashed before anything is published. Empty: every field is kept.
	FieldPolicyFile string
	// FieldPolicyHashKey is the HMAC key of the policy's hash rules.
	FieldPolicyHashKey Secret
	// FieldPolicy is the policy read from FieldPolicyFile when the configuration was loaded
	// (nil without one). It is not a setting of its own.
	FieldPolicy *change.Policy
}

// Synced returns the entities the settings sync, in the order of change.Entities: those of
// Entities (every entity when it is empty), less the employments when EmploymentDetails is
// false.
func (s Sync) Synced() []change.Entity {
	var out []change.Entity
	for _, e := range change.Entities() {
		if s.Syncs(e) {
			out = append(out, e)
		}
	}
	return out
}

// Syncs reports whether the settings sync entity e (see Synced).
func (s Sync) Syncs(e change.Entity) bool {
	if e == change.Employments && !s.EmploymentDetails {
		return false
	}
	return len(s.Entities) == 0 || slices.Contains(s.Entities, e)
}

// Admin is the HTTP endpoint for /metrics, /healthz, /readyz and /status, and the process'
// shutdown budget.
type Admin struct {
	Addr            string
	ShutdownTimeout time.Duration
}

// Log is the log output.
type Log struct {
	// Format is text or json.
	Format string
	// Level is debug, info, warn or error.
	Level string
}

// SlogLevel returns the configured level (info when unknown).
func (l Log) SlogLevel() slog.Level {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		return slog.LevelInfo
	}
	return lv
}

// Default returns the built-in defaults.
func Default() Config {
	var c Config
	for _, s := range settings {
		if s.def != "" {
			// Defaults are checked by TestDefaults; an error here is a programming mistake.
			if err := s.set(&c, s.def); err != nil {
				panic(fmt.Sprintf("config: default of %s: %v", s.env, err))
			}
		}
	}
	return c
}

// String lists every setting with its environment variable name; secrets are redacted.
func (c Config) String() string {
	var b strings.Builder
	for _, s := range settings {
		fmt.Fprintf(&b, "%s=%s\n", s.env, s.get(&c))
	}
	return b.String()
}

// MarshalJSON encodes the settings as an object keyed by environment variable name, in
// documentation order, with the values as they would be written in the environment (durations
// as "1h0m0s", lists comma-separated) and secrets redacted.
func (c Config) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, s := range settings {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(s.env)
		v, _ := json.Marshal(s.get(&c))
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	if c.Sync.FieldPolicy != nil {
		// What the policy does, in field names and a fingerprint: never the key.
		v, err := json.Marshal(c.Sync.FieldPolicy.Summary())
		if err != nil {
			return nil, err
		}
		b.WriteString(`,"field_policy":`)
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// LogValue implements slog.LogValuer: the settings as a group, secrets redacted.
func (c Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(settings))
	for _, s := range settings {
		attrs = append(attrs, slog.String(strings.ToLower(s.env), s.get(&c)))
	}
	return slog.GroupValue(attrs...)
}
