package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Group is a set of related settings. A command loads only the groups it uses, so that, for
// example, `tail` needs no Personio credentials.
type Group uint16

// The setting groups.
const (
	GroupPersonio   Group = 1 << iota // Personio API access and rate limits
	GroupKafka                        // brokers, security, topics
	GroupRegistry                     // schema registry
	GroupSync                         // schedule and delete guard
	GroupAdmin                        // admin HTTP server and shutdown
	GroupLog                          // log format and level
	GroupTopics                       // producer compression and how topics are created
	GroupWebhook                      // webhook receiver (see webhook.go)
	GroupMembership                   // the consumer group instances share tenants through (see membership.go)

	// GroupAll is everything the service (`run`) needs.
	GroupAll = GroupPersonio | GroupKafka | GroupRegistry | GroupSync | GroupAdmin | GroupLog | GroupTopics | GroupWebhook | GroupMembership
)

// setting is one configurable value: its environment variable, its flag (empty for secrets,
// which are never flags), its default and how to parse and print it.
type setting struct {
	env    string
	flag   string
	def    string
	usage  string
	group  Group
	secret bool   // read from env or env_FILE, never a flag; printed redacted
	isBool bool   // flag may be given without a value
	kind   string // placeholder of the flag's value in help texts
	set    func(c *Config, v string) error
	get    func(c *Config) string
}

func str(p func(c *Config) *string) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error { *p(c) = strings.TrimSpace(v); return nil },
		func(c *Config) string { return *p(c) }
}

func secret(p func(c *Config) *Secret) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error { *p(c) = Secret(v); return nil },
		func(c *Config) string { return p(c).String() }
}

func dur(p func(c *Config) *time.Duration) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not a duration (examples: 90s, 5m, 168h)", v)
			}
			*p(c) = d
			return nil
		},
		func(c *Config) string { return p(c).String() }
}

func integer(p func(c *Config) *int) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			*p(c) = n
			return nil
		},
		func(c *Config) string { return strconv.Itoa(*p(c)) }
}

func float(p func(c *Config) *float64) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("%q is not a finite number", v)
			}
			*p(c) = f
			return nil
		},
		func(c *Config) string { return strconv.FormatFloat(*p(c), 'g', -1, 64) }
}

func boolean(p func(c *Config) *bool) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not a boolean (true or false)", v)
			}
			*p(c) = b
			return nil
		},
		func(c *Config) string { return strconv.FormatBool(*p(c)) }
}

func list(p func(c *Config) *[]string) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			var out []string
			for _, part := range strings.Split(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					out = append(out, part)
				}
			}
			*p(c) = out
			return nil
		},
		func(c *Config) string { return strings.Join(*p(c), ",") }
}

// entities parses a comma-separated list of entity names: each known, none twice.
func entities(p func(c *Config) *[]change.Entity) (func(*Config, string) error, func(*Config) string) {
	return func(c *Config, v string) error {
			var out []change.Entity
			for part := range strings.SplitSeq(v, ",") {
				e := change.Entity(strings.TrimSpace(part))
				if e == "" {
					continue
				}
				if _, err := change.Describe(e); err != nil {
					return fmt.Errorf("%q is not an entity (want %s)", e, change.NameList())
				}
				if slices.Contains(out, e) {
					return fmt.Errorf("names %s twice", e)
				}
				out = append(out, e)
			}
			*p(c) = out
			return nil
		},
		func(c *Config) string {
			names := make([]string, len(*p(c)))
			for i, e := range *p(c) {
				names[i] = string(e)
			}
			return strings.Join(names, ",")
		}
}

func def(env, flag, dflt, usage string, g Group, set func(*Config, string) error, get func(*Config) string) setting {
	return setting{env: env, flag: flag, def: dflt, usage: usage, group: g, set: set, get: get}
}

func (s setting) withKind(k string) setting {
	s.kind = k
	return s
}

func boolDef(env, flag, dflt, usage string, g Group, set func(*Config, string) error, get func(*Config) string) setting {
	s := def(env, flag, dflt, usage, g, set, get)
	s.isBool = true
	return s
}

func sec(env, usage string, g Group, set func(*Config, string) error, get func(*Config) string) setting {
	return setting{env: env, usage: usage, group: g, secret: true, set: set, get: get}
}

// settings is the single list of every setting, in the order they are documented.
var settings = func() []setting {
	var out []setting
	add := func(st setting) { out = append(out, st) }

	// Personio.
	{
		set, get := str(func(c *Config) *string { return &c.Personio.BaseURL })
		add(def("PERSONIO_BASE_URL", "personio-url", "https://api.personio.de", "Personio API base URL", GroupPersonio, set, get).withKind("url"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Personio.ClientID })
		add(def("PERSONIO_CLIENT_ID", "client-id", "", "Personio API client id", GroupPersonio, set, get).withKind("string"))
	}
	{
		set, get := secret(func(c *Config) *Secret { return &c.Personio.ClientSecret })
		add(sec("PERSONIO_CLIENT_SECRET", "Personio API client secret", GroupPersonio, set, get))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Personio.Tenant })
		add(def("PERSONIO_TENANT", "tenant", "", "stable name of the Personio account; prefixes every event key (never a credential)", GroupPersonio, set, get).withKind("string"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Personio.AppID })
		add(def("PERSONIO_APP_ID", "app-id", "", "optional X-Personio-App-ID header", GroupPersonio, set, get).withKind("string"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Personio.PartnerID })
		add(def("PERSONIO_PARTNER_ID", "partner-id", "", "optional X-Personio-Partner-ID header", GroupPersonio, set, get).withKind("string"))
	}
	{
		set, get := float(func(c *Config) *float64 { return &c.Personio.RateLimitPerMinute })
		add(def("PERSONIO_RATE_LIMIT_PER_MINUTE", "rate-limit", "300", "API requests per minute for this tenant", GroupPersonio, set, get).withKind("number"))
	}
	{
		set, get := integer(func(c *Config) *int { return &c.Personio.RateBurst })
		add(def("PERSONIO_RATE_BURST", "rate-burst", "15", "API request burst", GroupPersonio, set, get).withKind("int"))
	}
	{
		set, get := float(func(c *Config) *float64 { return &c.Personio.CompensationRateLimitPerMinute })
		add(def("COMPENSATION_RATE_LIMIT_PER_MINUTE", "compensation-rate-limit", "300", "compensation requests per minute (separate budget)", GroupPersonio, set, get).withKind("number"))
	}
	{
		set, get := integer(func(c *Config) *int { return &c.Personio.CompensationRateBurst })
		add(def("COMPENSATION_RATE_BURST", "compensation-rate-burst", "5", "compensation request burst", GroupPersonio, set, get).withKind("int"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Personio.RequestTimeout })
		add(def("PERSONIO_REQUEST_TIMEOUT", "request-timeout", "30s", "timeout of one API request", GroupPersonio, set, get).withKind("duration"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Tenants.File })
		add(def("TENANTS_FILE", "tenants-file", "", "YAML file of the tenants (name, credential files, budgets, intervals, entities per tenant); empty: the one tenant of the PERSONIO_* settings", GroupPersonio, set, get).withKind("path"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Tenants.PollInterval })
		add(def("TENANTS_POLL_INTERVAL", "tenants-poll-interval", "10s", "how often TENANTS_FILE and its credential files are read again for changes", GroupPersonio, set, get).withKind("duration"))
	}

	// Kafka.
	{
		set, get := list(func(c *Config) *[]string { return &c.Kafka.Brokers })
		add(def("KAFKA_BROKERS", "kafka-brokers", "localhost:9092", "comma-separated bootstrap brokers host:port", GroupKafka, set, get).withKind("host:port,…"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Kafka.TopicPrefix })
		add(def("TOPIC_PREFIX", "topic-prefix", "personio", "topic name prefix: <prefix>.persons, <prefix>.compensations", GroupKafka, set, get).withKind("string"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Kafka.SASLMechanism })
		add(def("KAFKA_SASL_MECHANISM", "kafka-sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty for none", GroupKafka, set, get).withKind("string"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Kafka.SASLUsername })
		add(def("KAFKA_SASL_USERNAME", "kafka-sasl-username", "", "SASL user name", GroupKafka, set, get).withKind("string"))
	}
	{
		set, get := secret(func(c *Config) *Secret { return &c.Kafka.SASLPassword })
		add(sec("KAFKA_SASL_PASSWORD", "SASL password", GroupKafka, set, get))
	}
	{
		set, get := boolean(func(c *Config) *bool { return &c.Kafka.TLSEnabled })
		add(boolDef("KAFKA_TLS_ENABLED", "kafka-tls", "false", "connect to Kafka with TLS", GroupKafka, set, get))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Kafka.TLSCAFile })
		add(def("KAFKA_TLS_CA_FILE", "kafka-tls-ca-file", "", "PEM file of CAs to trust (default: system roots)", GroupKafka, set, get).withKind("string"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Kafka.Compression })
		add(def("KAFKA_COMPRESSION", "kafka-compression", "snappy", "producer compression: none, gzip, snappy, lz4, zstd", GroupTopics, set, get).withKind("string"))
	}
	{
		set, get := integer(func(c *Config) *int { return &c.Kafka.TopicPartitions })
		add(def("KAFKA_TOPIC_PARTITIONS", "topic-partitions", "6", "partitions of topics the service creates", GroupTopics, set, get).withKind("int"))
	}
	{
		set, get := integer(func(c *Config) *int { return &c.Kafka.ReplicationFactor })
		add(def("KAFKA_REPLICATION_FACTOR", "replication-factor", "-1", "replication factor of topics the service creates; -1 = broker default", GroupTopics, set, get).withKind("int"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Kafka.MinCompactionLag })
		add(def("MIN_COMPACTION_LAG", "min-compaction-lag", "168h", "min.compaction.lag.ms of created topics: how long every change stays readable", GroupTopics, set, get).withKind("duration"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Kafka.MaxCompactionLag })
		add(def("MAX_COMPACTION_LAG", "max-compaction-lag", "720h", "max.compaction.lag.ms of created topics (>= MIN_COMPACTION_LAG): bounds how long an erased value stays readable", GroupTopics, set, get).withKind("duration"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Kafka.SegmentRoll })
		add(def("SEGMENT_ROLL", "segment-roll", "24h", "segment.ms of created topics: the active segment, never compacted, rolls after this", GroupTopics, set, get).withKind("duration"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Kafka.DeleteRetention })
		add(def("DELETE_RETENTION", "delete-retention", "168h", "delete.retention.ms of created topics: how long a tombstone stays readable", GroupTopics, set, get).withKind("duration"))
	}

	// Schema registry.
	{
		set, get := str(func(c *Config) *string { return &c.SchemaRegistry.URL })
		add(def("SCHEMA_REGISTRY_URL", "schema-registry-url", "http://localhost:8081", "Confluent-compatible schema registry URL", GroupRegistry, set, get).withKind("url"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.SchemaRegistry.Username })
		add(def("SCHEMA_REGISTRY_USERNAME", "schema-registry-username", "", "registry basic-auth user", GroupRegistry, set, get).withKind("string"))
	}
	{
		set, get := secret(func(c *Config) *Secret { return &c.SchemaRegistry.Password })
		add(sec("SCHEMA_REGISTRY_PASSWORD", "registry basic-auth password", GroupRegistry, set, get))
	}

	// Sync.
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Sync.FullInterval })
		add(def("FULL_SYNC_INTERVAL", "full-sync-interval", "1h", "time between full syncs", GroupSync, set, get).withKind("duration"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Sync.IncrementalInterval })
		add(def("INCREMENTAL_SYNC_INTERVAL", "incremental-sync-interval", "5m", "time between incremental syncs; 0 disables them", GroupSync, set, get).withKind("duration"))
	}
	{
		set, get := integer(func(c *Config) *int { return &c.Sync.CompensationLookbackMonths })
		add(def("COMPENSATION_LOOKBACK_MONTHS", "compensation-lookback-months", "2", "months before the current one a full sync lists compensations for", GroupSync, set, get).withKind("int"))
	}
	{
		set, get := float(func(c *Config) *float64 { return &c.Sync.DeleteGuardRatio })
		add(def("DELETE_GUARD_RATIO", "delete-guard-ratio", "0.2", "largest share of an entity one sync may delete", GroupSync, set, get).withKind("number"))
	}
	{
		set, get := boolean(func(c *Config) *bool { return &c.Sync.DeleteGuardOverride })
		add(boolDef("DELETE_GUARD_OVERRIDE", "delete-guard-override", "false", "publish deletes even when the mass-delete guard trips", GroupSync, set, get))
	}
	{
		set, get := boolean(func(c *Config) *bool { return &c.Sync.EmploymentDetails })
		add(boolDef("SYNC_EMPLOYMENT_DETAILS", "sync-employment-details", "true", "list employments as their own stream, topic <prefix>.employments (one request per person listed); false leaves employments out", GroupSync, set, get))
	}
	{
		set, get := entities(func(c *Config) *[]change.Entity { return &c.Sync.Entities })
		add(def("SYNC_ENTITIES", "sync-entities", "", "comma-separated entities to sync ("+change.NameList()+"); empty: every entity; employments need persons", GroupSync, set, get).withKind("entity,…"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Sync.EmploymentRefreshPeriod })
		add(def("EMPLOYMENT_REFRESH_PERIOD", "employment-refresh-period", "24h", "longest a person's employments go without being read again by the rolling refresh; 0 disables it", GroupSync, set, get).withKind("duration"))
	}
	{
		set, get := float(func(c *Config) *float64 { return &c.Sync.EmploymentRefreshBudgetShare })
		add(def("EMPLOYMENT_REFRESH_BUDGET_SHARE", "employment-refresh-budget-share", "0.5", "largest share of the request budget the rolling refresh of employments may spend (0-1]", GroupSync, set, get).withKind("number"))
	}
	{
		set, get := integer(func(c *Config) *int { return &c.Sync.PersonListChains })
		add(def("PERSON_LIST_CHAINS", "person-list-chains", "6", "created_at ranges a full persons listing is split into and lists at once (1-32)", GroupSync, set, get).withKind("int"))
	}
	{
		set, get := integer(func(c *Config) *int { return &c.Sync.CompensationSubWindows })
		add(def("COMPENSATION_SUB_WINDOWS", "compensation-sub-windows", "1", "date ranges each compensation month is split into (1-28); at most 2 compensation requests are in flight whatever the setting", GroupSync, set, get).withKind("int"))
	}
	{
		set, get := integer(func(c *Config) *int { return &c.Sync.PublishBatchSize })
		add(def("PUBLISH_BATCH_SIZE", "publish-batch-size", "5000", "events per Kafka producer call; the state advances per acknowledged call (1-100000)", GroupSync, set, get).withKind("int"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Sync.FieldPolicyFile })
		add(def("FIELD_POLICY_FILE", "field-policy-file", "", "YAML file saying which fields are dropped or hashed before publishing; empty keeps every field", GroupSync, set, get).withKind("path"))
	}
	{
		set, get := secret(func(c *Config) *Secret { return &c.Sync.FieldPolicyHashKey })
		add(sec("FIELD_POLICY_HASH_KEY", "HMAC-SHA256 key of the field policy's hash rules (at least 16 bytes)", GroupSync, set, get))
	}

	// Admin.
	{
		set, get := str(func(c *Config) *string { return &c.Admin.Addr })
		add(def("ADMIN_ADDR", "admin-addr", "127.0.0.1:9464", "listen address of the status page / and /metrics /healthz /readyz /status", GroupAdmin, set, get).withKind("host:port"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Admin.ShutdownTimeout })
		add(def("SHUTDOWN_TIMEOUT", "shutdown-timeout", "30s", "how long a stop may wait for an in-flight publish", GroupAdmin, set, get).withKind("duration"))
	}

	out = append(out, webhookSettings()...)
	out = append(out, membershipSettings()...)

	// Log.
	{
		set, get := str(func(c *Config) *string { return &c.Log.Format })
		add(def("LOG_FORMAT", "log-format", "text", "text or json", GroupLog, set, get).withKind("string"))
	}
	{
		set, get := str(func(c *Config) *string { return &c.Log.Level })
		add(def("LOG_LEVEL", "log-level", "info", "debug, info, warn or error", GroupLog, set, get).withKind("string"))
	}
	return out
}()
