package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

var (
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	topicRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)
)

// Validate checks every setting the service needs and returns an *Error listing every problem,
// or nil.
func (c Config) Validate() error { return c.ValidateGroups(GroupAll) }

// ValidateGroups checks the settings of groups only.
func (c Config) ValidateGroups(groups Group) error {
	if p := c.problems(groups); len(p) > 0 {
		return &Error{Problems: p}
	}
	return nil
}

func (c Config) problems(groups Group) []Problem {
	var ps []Problem
	bad := func(setting, format string, args ...any) {
		ps = append(ps, Problem{Setting: setting, Message: setting + " " + fmt.Sprintf(format, args...)})
	}
	if groups&GroupPersonio != 0 {
		p := c.Personio
		checkURL(bad, "PERSONIO_BASE_URL", p.BaseURL)
		if c.Tenants.File != "" {
			// Each tenant of the file has its own name and credential: one given here as
			// well would be either ignored or shared by every tenant, both a guess.
			for _, id := range []struct {
				name string
				set  bool
			}{{"PERSONIO_TENANT", p.Tenant != ""}, {"PERSONIO_CLIENT_ID", p.ClientID != ""}, {"PERSONIO_CLIENT_SECRET", p.ClientSecret.IsSet()}} {
				if id.set {
					bad(id.name, "is set, but TENANTS_FILE names the tenants and their credentials: unset one of them")
				}
			}
		} else {
			if p.ClientID == "" {
				bad("PERSONIO_CLIENT_ID", "is required")
			}
			if !p.ClientSecret.IsSet() {
				bad("PERSONIO_CLIENT_SECRET", "is required (or PERSONIO_CLIENT_SECRET_FILE)")
			}
			if p.Tenant == "" {
				bad("PERSONIO_TENANT", "is required: a stable name for the Personio account, e.g. acme-gmbh")
			}
		}
		checkControl(bad, "PERSONIO_CLIENT_ID", p.ClientID)
		checkControl(bad, "PERSONIO_APP_ID", p.AppID)
		checkControl(bad, "PERSONIO_PARTNER_ID", p.PartnerID)
		if p.Tenant != "" && !tenantRE.MatchString(p.Tenant) {
			bad("PERSONIO_TENANT", "%q must be 1-63 letters, digits, '.', '_' or '-' (no ':'), starting with a letter or digit", p.Tenant)
		}
		if c.Tenants.PollInterval < time.Second {
			bad("TENANTS_POLL_INTERVAL", "must be at least 1s")
		}
		checkRate(bad, "PERSONIO_RATE_LIMIT_PER_MINUTE", p.RateLimitPerMinute)
		if p.RateBurst < 1 {
			bad("PERSONIO_RATE_BURST", "must be at least 1")
		}
		checkRate(bad, "COMPENSATION_RATE_LIMIT_PER_MINUTE", p.CompensationRateLimitPerMinute)
		if p.CompensationRateBurst < 1 {
			bad("COMPENSATION_RATE_BURST", "must be at least 1")
		}
		if p.RequestTimeout <= 0 {
			bad("PERSONIO_REQUEST_TIMEOUT", "must be greater than 0")
		}
	}
	if groups&GroupKafka != 0 {
		k := c.Kafka
		if len(k.Brokers) == 0 {
			bad("KAFKA_BROKERS", "is required (host:port[,host:port…])")
		}
		for _, b := range k.Brokers {
			if !validHostPort(b, false) {
				bad("KAFKA_BROKERS", "entry %q is not host:port", b)
			}
		}
		checkControl(bad, "KAFKA_SASL_USERNAME", k.SASLUsername)
		checkControl(bad, "KAFKA_TLS_CA_FILE", k.TLSCAFile)
		if !topicRE.MatchString(k.TopicPrefix) {
			bad("TOPIC_PREFIX", "%q must be 1-200 letters, digits, '.', '_' or '-'", k.TopicPrefix)
		}
		switch strings.ToUpper(k.SASLMechanism) {
		case "":
			if k.SASLUsername != "" || k.SASLPassword.IsSet() {
				bad("KAFKA_SASL_MECHANISM", "is required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set")
			}
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
			if k.SASLUsername == "" {
				bad("KAFKA_SASL_USERNAME", "is required when KAFKA_SASL_MECHANISM is set")
			}
			if !k.SASLPassword.IsSet() {
				bad("KAFKA_SASL_PASSWORD", "is required when KAFKA_SASL_MECHANISM is set (or KAFKA_SASL_PASSWORD_FILE)")
			}
		default:
			bad("KAFKA_SASL_MECHANISM", "%q must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASLMechanism)
		}
		if k.TLSCAFile != "" && !k.TLSEnabled {
			bad("KAFKA_TLS_CA_FILE", "is set but KAFKA_TLS_ENABLED is false")
		}
	}
	if groups&GroupTopics != 0 {
		k := c.Kafka
		switch k.Compression {
		case "none", "gzip", "snappy", "lz4", "zstd":
		default:
			bad("KAFKA_COMPRESSION", "%q must be none, gzip, snappy, lz4 or zstd", k.Compression)
		}
		if k.TopicPartitions < 1 || k.TopicPartitions > maxTopicPartitions {
			bad("KAFKA_TOPIC_PARTITIONS", "must be between 1 and %d", maxTopicPartitions)
		}
		if (k.ReplicationFactor < 1 || k.ReplicationFactor > math.MaxInt16) && k.ReplicationFactor != -1 {
			bad("KAFKA_REPLICATION_FACTOR", "must be between 1 and %d (Kafka's limit), or -1 for the broker default", math.MaxInt16)
		}
		if k.MinCompactionLag < 0 {
			bad("MIN_COMPACTION_LAG", "must not be negative")
		}
		if k.MaxCompactionLag < time.Millisecond {
			bad("MAX_COMPACTION_LAG", "must be at least 1ms")
		} else if k.MinCompactionLag > k.MaxCompactionLag {
			bad("MAX_COMPACTION_LAG", "(%s) must not be shorter than MIN_COMPACTION_LAG (%s)", k.MaxCompactionLag, k.MinCompactionLag)
		}
		if k.SegmentRoll < time.Millisecond {
			bad("SEGMENT_ROLL", "must be at least 1ms")
		}
		if k.DeleteRetention < 0 {
			bad("DELETE_RETENTION", "must not be negative")
		}
	}
	if groups&GroupRegistry != 0 {
		r := c.SchemaRegistry
		checkURL(bad, "SCHEMA_REGISTRY_URL", r.URL)
		checkControl(bad, "SCHEMA_REGISTRY_USERNAME", r.Username)
		if r.Username != "" && !r.Password.IsSet() {
			bad("SCHEMA_REGISTRY_PASSWORD", "is required when SCHEMA_REGISTRY_USERNAME is set (or SCHEMA_REGISTRY_PASSWORD_FILE)")
		}
		if r.Username == "" && r.Password.IsSet() {
			bad("SCHEMA_REGISTRY_USERNAME", "is required when SCHEMA_REGISTRY_PASSWORD is set")
		}
	}
	if groups&GroupSync != 0 {
		s := c.Sync
		if s.FullInterval <= 0 {
			bad("FULL_SYNC_INTERVAL", "must be greater than 0")
		}
		if s.IncrementalInterval < 0 {
			bad("INCREMENTAL_SYNC_INTERVAL", "must not be negative (0 disables incremental syncs)")
		} else if s.IncrementalInterval > 0 && s.FullInterval > 0 && s.IncrementalInterval >= s.FullInterval {
			bad("INCREMENTAL_SYNC_INTERVAL", "(%s) must be shorter than FULL_SYNC_INTERVAL (%s), or 0 to disable incremental syncs", s.IncrementalInterval, s.FullInterval)
		}
		if s.CompensationLookbackMonths < 0 || s.CompensationLookbackMonths > 24 {
			bad("COMPENSATION_LOOKBACK_MONTHS", "must be between 0 and 24")
		}
		// Written so that NaN, which compares false, fails too.
		if !(s.DeleteGuardRatio > 0 && s.DeleteGuardRatio <= 1) {
			bad("DELETE_GUARD_RATIO", "must be greater than 0 and at most 1")
		}
		if slices.Contains(s.Entities, change.Employments) {
			if !s.EmploymentDetails {
				bad("SYNC_ENTITIES", "names employments, but SYNC_EMPLOYMENT_DETAILS is false: drop one of them")
			}
			if !slices.Contains(s.Entities, change.Persons) {
				bad("SYNC_ENTITIES", "names employments without persons: employments are read per person of the persons listing, whose high-water mark only a persons sync moves")
			}
		}
		if s.EmploymentRefreshPeriod != 0 && s.EmploymentRefreshPeriod < 10*time.Minute {
			bad("EMPLOYMENT_REFRESH_PERIOD", "(%s) must be at least 10m, or 0 to disable the rolling refresh of employments", s.EmploymentRefreshPeriod)
		}
		if !(s.EmploymentRefreshBudgetShare > 0 && s.EmploymentRefreshBudgetShare <= 1) {
			bad("EMPLOYMENT_REFRESH_BUDGET_SHARE", "must be greater than 0 and at most 1")
		}
		if s.PersonListChains < 1 || s.PersonListChains > 32 {
			bad("PERSON_LIST_CHAINS", "must be between 1 and 32")
		}
		if s.CompensationSubWindows < 1 || s.CompensationSubWindows > 28 {
			bad("COMPENSATION_SUB_WINDOWS", "must be between 1 and 28 (each range is at least a day; February has 28)")
		}
		if s.PublishBatchSize < 1 || s.PublishBatchSize > 100000 {
			bad("PUBLISH_BATCH_SIZE", "must be between 1 and 100000")
		}
	}
	if groups&GroupAdmin != 0 {
		if !validHostPort(c.Admin.Addr, true) {
			bad("ADMIN_ADDR", "%q is not host:port (e.g. 127.0.0.1:9464 or :9464)", c.Admin.Addr)
		}
		if c.Admin.ShutdownTimeout <= 0 {
			bad("SHUTDOWN_TIMEOUT", "must be greater than 0")
		}
	}
	if groups&GroupWebhook != 0 {
		c.webhookProblems(bad)
	}
	if groups&GroupMembership != 0 {
		c.membershipProblems(bad)
	}
	if groups&GroupLog != 0 {
		switch c.Log.Format {
		case "text", "json":
		default:
			bad("LOG_FORMAT", "%q must be text or json", c.Log.Format)
		}
		switch strings.ToLower(c.Log.Level) {
		case "debug", "info", "warn", "error":
		default:
			bad("LOG_LEVEL", "%q must be debug, info, warn or error", c.Log.Level)
		}
	}
	return ps
}

// maxTopicPartitions bounds KAFKA_TOPIC_PARTITIONS: far more than a topic of one company's
// persons or compensations could use, far below where a broker would refuse or struggle.
const maxTopicPartitions = 10000

// checkRate requires a finite number of requests per minute greater than 0. NaN compares false
// with everything, so it is ruled out explicitly rather than by a comparison.
func checkRate(bad func(string, string, ...any), name string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		bad(name, "must be a finite number")
		return
	}
	if v <= 0 {
		bad(name, "must be greater than 0")
	}
}

// checkControl rejects control characters (CR, LF, tab, NUL, DEL, …) in a string that ends up in
// an HTTP header, a SASL handshake or a request body: a pasted line break would split a header or
// fail far from its cause. The value is not echoed.
func checkControl(bad func(string, string, ...any), name, v string) {
	if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
		bad(name, "must not contain control characters (found %U at byte %d)", []rune(v[i:])[0], i)
	}
}

// checkURL requires an absolute http(s) URL without credentials. It never echoes the URL, which
// might carry a password.
func checkURL(bad func(string, string, ...any), name, raw string) {
	if raw == "" {
		bad(name, "is required")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		bad(name, "must be an absolute http:// or https:// URL")
	case u.User != nil:
		bad(name, "must not contain credentials; use the _USERNAME/_PASSWORD settings")
	}
}

func validHostPort(s string, emptyHostOK bool) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || (host == "" && !emptyHostOK) {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}
