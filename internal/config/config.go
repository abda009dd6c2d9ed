// Package config loads the service settings: defaults, then environment variables, then
// command-line flags (flags win). Secrets come from an environment variable or from a file named
// by the same variable with a _FILE suffix, never from a flag, and redact themselves wherever
// they are printed, logged or encoded.
package config

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Config is every setting of personio-cdc. The zero value is not useful: start from Default or
// Load.
type Config struct {
	Personio       Personio       `json:"personio"`
	Kafka          Kafka          `json:"kafka"`
	SchemaRegistry SchemaRegistry `json:"schema_registry"`
	Sync           Sync           `json:"sync"`
	Admin          Admin          `json:"admin"`
	Log            Log            `json:"log"`
}

// Personio is how to reach and authenticate against the Personio API.
type Personio struct {
	BaseURL      string `json:"base_url"`
	ClientID     string `json:"client_id"`
	ClientSecret Secret `json:"client_secret"`
	AppID        string `json:"app_id,omitempty"`
	PartnerID    string `json:"partner_id,omitempty"`
	// Tenant is the stable name of the Personio account; it prefixes every event key.
	Tenant string `json:"tenant"`
	// RateLimitPerMinute and RateBurst are the budget for all API calls of this tenant.
	RateLimitPerMinute float64 `json:"rate_limit_per_minute"`
	RateBurst          int     `json:"rate_burst"`
	// CompensationRateLimitPerMinute and CompensationRateBurst are the separate, stricter
	// budget of the compensations endpoint.
	CompensationRateLimitPerMinute float64       `json:"compensation_rate_limit_per_minute"`
	CompensationRateBurst          int           `json:"compensation_rate_burst"`
	RequestTimeout                 time.Duration `json:"request_timeout"`
}

// Kafka is how to reach the brokers and how topics are created.
type Kafka struct {
	Brokers       []string `json:"brokers"`
	TopicPrefix   string   `json:"topic_prefix"`
	SASLMechanism string   `json:"sasl_mechanism,omitempty"`
	SASLUsername  string   `json:"sasl_username,omitempty"`
	SASLPassword  Secret   `json:"sasl_password,omitempty"`
	TLSEnabled    bool     `json:"tls_enabled"`
	TLSCAFile     string   `json:"tls_ca_file,omitempty"`
	// Compression is the producer's codec: none, gzip, snappy, lz4 or zstd.
	Compression string `json:"compression"`
	// TopicPartitions and ReplicationFactor apply only when the service creates a topic.
	// ReplicationFactor -1 leaves it to the broker's default.replication.factor.
	TopicPartitions   int `json:"topic_partitions"`
	ReplicationFactor int `json:"replication_factor"`
	// MinCompactionLag is min.compaction.lag.ms and delete.retention.ms of created topics:
	// every single change stays readable at least this long.
	MinCompactionLag time.Duration `json:"min_compaction_lag"`
}

// Topic returns the topic name of an entity ("persons" → "personio.persons").
func (k Kafka) Topic(entity string) string { return k.TopicPrefix + "." + entity }

// SchemaRegistry is how to reach the Confluent-compatible schema registry.
type SchemaRegistry struct {
	URL      string `json:"url"`
	Username string `json:"username,omitempty"`
	Password Secret `json:"password,omitempty"`
}

// Sync is when and how carefully the service syncs.
type Sync struct {
	FullInterval        time.Duration `json:"full_interval"`
	IncrementalInterval time.Duration `json:"incremental_interval"`
	// CompensationLookbackMonths is how many months before the current one a full sync lists.
	CompensationLookbackMonths int `json:"compensation_lookback_months"`
	// DeleteGuardRatio is the share of an entity a single sync may delete before the
	// mass-delete guard stops it; DeleteGuardOverride disables the guard.
	DeleteGuardRatio    float64 `json:"delete_guard_ratio"`
	DeleteGuardOverride bool    `json:"delete_guard_override"`
}

// Admin is the HTTP endpoint for /metrics, /healthz, /readyz and /status, and the process'
// shutdown budget.
type Admin struct {
	Addr            string        `json:"addr"`
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`
}

// Log is the log output.
type Log struct {
	// Format is text or json.
	Format string `json:"format"`
	// Level is debug, info, warn or error.
	Level string `json:"level"`
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

// LogValue implements slog.LogValuer: the settings as a group, secrets redacted.
func (c Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(settings))
	for _, s := range settings {
		attrs = append(attrs, slog.String(strings.ToLower(s.env), s.get(&c)))
	}
	return slog.GroupValue(attrs...)
}
