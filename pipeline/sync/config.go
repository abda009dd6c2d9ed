package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personio-cdc/personio-cdc/internal/codec"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
	"github.com/personio-cdc/personio-cdc/pipeline/publish"
)

// Codec encodes change envelopes for the topics and decodes them when the state is rebuilt.
// *codec.Codec satisfies it.
type Codec interface {
	publish.Encoder
	Decode(ctx context.Context, data []byte, reader codec.Schema, into any) error
}

// TopicReader reads a topic from its first offset to the end it had when the call started.
// *kafka.Client satisfies it.
type TopicReader interface {
	ReadToEnd(ctx context.Context, topic string, fn func(kafka.Record) error) error
}

// TopicAdmin creates the output topics. *kafka.Client satisfies it.
type TopicAdmin interface {
	EnsureTopics(ctx context.Context, specs []kafka.TopicSpec) error
}

// Defaults of the runner's settings.
const (
	DefaultTopicPrefix       = "personio"
	DefaultLookbackMonths    = 2
	DefaultSkewMargin        = 2 * time.Minute
	DefaultEmploymentWorkers = 4
	DefaultDeleteGuardRatio  = diff.DefaultDeleteRatio
	// DefaultPersonChains is into how many created_at ranges a full persons listing is split.
	DefaultPersonChains = extract.DefaultPersonChains
	// DefaultCompensationSubWindows is into how many date ranges a compensation month is split.
	DefaultCompensationSubWindows = extract.DefaultCompensationWindows
	// MaxPersonChains and MaxCompensationSubWindows bound the two settings.
	MaxPersonChains           = 32
	MaxCompensationSubWindows = 28 // a sub-window is at least a day; February has 28
)

// Config configures a Runner. Start from DefaultConfig or set every field: a zero
// LookbackMonths means "the current month only".
type Config struct {
	// Tenant is the stable name of the Personio account; it prefixes every key. Required.
	Tenant string
	// TopicPrefix names the topics <prefix>.<entity>.
	TopicPrefix string
	// LookbackMonths is how many months before the current one compensations are listed (≥ 0).
	LookbackMonths int
	// SkewMargin is subtracted from the high-water mark of an incremental listing (≥ 0).
	SkewMargin time.Duration
	// EmploymentWorkers bounds the concurrent employment listings (≥ 1).
	EmploymentWorkers int
	// EmploymentDetails syncs the employments entity (the setting SYNC_EMPLOYMENT_DETAILS):
	// each person's employments listed (one request per person and full sync, and per person
	// an incremental sync lists) and published on <prefix>.employments. False leaves the
	// entity out: no employment is requested, published or deleted. Persons carry their
	// employments as ids either way.
	EmploymentDetails bool
	// Entities are the entities the runner syncs (a tenant's selection, SYNC_ENTITIES); nil
	// syncs every entity (change.Entities). EmploymentDetails false leaves employments out
	// either way. An entity left out is never listed, published or deleted: its state and
	// topic are as other tenants' runners leave them, and WithEntities naming it fails.
	Entities []change.Entity
	// PersonChains is into how many created_at ranges a full persons listing is split, each
	// listed at the same time, in [1, MaxPersonChains]. See extract.WithPersonChains.
	PersonChains int
	// CompensationSubWindows is into how many date ranges each compensation month is split,
	// each listed at the same time, in [1, MaxCompensationSubWindows]. See
	// extract.WithCompensationWindows.
	CompensationSubWindows int
	// DeleteGuardRatio is the share of an entity one sync may delete, in (0, 1].
	DeleteGuardRatio float64
	// DeleteGuardMin is the state size from which the ratio applies (see diff.WithDeleteGuard).
	DeleteGuardMin int
	// DeleteGuardOverride turns the mass-delete guard off.
	DeleteGuardOverride bool
	// PublishBatchSize is the number of events per producer call (0: publish's default).
	PublishBatchSize int
	// FieldPolicy drops or hashes fields of every listed record before it is hashed, diffed,
	// published or stored, and of every before image (see change.Policy); nil keeps all.
	FieldPolicy *change.Policy
	// SegmentRoll is the segment.ms of the entity topics (≥ 0). The first sync more than
	// SegmentRoll (plus a tenth) after an erasure tombstone writes it a second time, so that
	// its segment rolls and gets compacted even when nothing else reaches its partition
	// (erasure.Rolls). 0 writes no second tombstone.
	SegmentRoll time.Duration

	Source   extract.Source   // Personio; required (*personio.Client)
	Producer publish.Producer // required (*kafka.Client)
	Registry publish.Registry // required (*codec.Registry)
	Codec    Codec            // required (*codec.Codec)
	Reader   TopicReader      // required (*kafka.Client)
	// Admin, when set, creates the topics (from TopicSpec) before the first state rebuild.
	Admin TopicAdmin
	// TopicSpec is the template for created topics; Name is set per entity.
	TopicSpec kafka.TopicSpec
	// NewStore returns an empty state store; default state.NewMemory.
	NewStore func() state.Store

	Registerer prometheus.Registerer // optional
	Logger     *slog.Logger          // optional
	Now        func() time.Time      // optional; default time.Now
}

// DefaultConfig returns a Config with every default set; fill in Tenant and the dependencies.
func DefaultConfig() Config {
	return Config{
		TopicPrefix:            DefaultTopicPrefix,
		LookbackMonths:         DefaultLookbackMonths,
		SkewMargin:             DefaultSkewMargin,
		EmploymentWorkers:      DefaultEmploymentWorkers,
		EmploymentDetails:      true,
		PersonChains:           DefaultPersonChains,
		CompensationSubWindows: DefaultCompensationSubWindows,
		DeleteGuardRatio:       DefaultDeleteGuardRatio,
		DeleteGuardMin:         diff.DefaultDeleteGuardMin,
	}
}

var tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// validate fills the optional fields and returns every problem at once.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("sync: "+format, args...)) }
	switch {
	case c.Tenant == "":
		bad("tenant is required")
	case !tenantRE.MatchString(c.Tenant):
		bad("tenant %q must be 1-63 letters, digits, '.', '_' or '-' (no ':')", c.Tenant)
	}
	if c.TopicPrefix == "" {
		bad("topic prefix is required")
	}
	for i, e := range c.Entities {
		if _, err := change.Describe(e); err != nil {
			bad("entities: %v", err)
		} else if slices.Contains(c.Entities[:i], e) {
			bad("entities: %s named twice", e)
		}
	}
	if c.Entities != nil && len(c.Entities) == 0 {
		bad("entities: an empty selection syncs nothing (nil syncs every entity)")
	}
	if c.LookbackMonths < 0 {
		bad("look-back months must be >= 0, got %d", c.LookbackMonths)
	}
	if c.SkewMargin < 0 {
		bad("skew margin must be >= 0, got %s", c.SkewMargin)
	}
	if c.EmploymentWorkers < 1 {
		bad("employment workers must be >= 1, got %d", c.EmploymentWorkers)
	}
	if c.PersonChains < 1 || c.PersonChains > MaxPersonChains {
		bad("person chains must be in [1, %d], got %d", MaxPersonChains, c.PersonChains)
	}
	if c.CompensationSubWindows < 1 || c.CompensationSubWindows > MaxCompensationSubWindows {
		bad("compensation sub-windows must be in [1, %d], got %d", MaxCompensationSubWindows, c.CompensationSubWindows)
	}
	if !(c.DeleteGuardRatio > 0 && c.DeleteGuardRatio <= 1) {
		bad("delete guard ratio must be in (0, 1], got %v", c.DeleteGuardRatio)
	}
	if c.DeleteGuardMin < 0 {
		bad("delete guard minimum must be >= 0, got %d", c.DeleteGuardMin)
	}
	if c.PublishBatchSize < 0 {
		bad("publish batch size must be >= 0, got %d", c.PublishBatchSize)
	}
	if c.SegmentRoll < 0 {
		bad("segment roll must be >= 0, got %s", c.SegmentRoll)
	}
	for _, dep := range []struct {
		name    string
		missing bool
	}{
		{"source", c.Source == nil}, {"producer", c.Producer == nil}, {"registry", c.Registry == nil},
		{"codec", c.Codec == nil}, {"reader", c.Reader == nil},
	} {
		if dep.missing {
			bad("%s is required", dep.name)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c.NewStore == nil {
		c.NewStore = func() state.Store { return state.NewMemory() }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
