package config

import (
	"strings"
	"time"
	"unicode"
)

// Membership is how the instances of one deployment share the tenants out: a Kafka consumer
// group over the work topic <prefix>.work (see internal/group). An empty GroupID is
// single-instance mode: this instance syncs every configured tenant.
type Membership struct {
	// GroupID is the consumer group every instance of the deployment joins.
	GroupID string
	// WorkPartitions is the partition count of a work topic the service creates (an existing
	// topic's count is used as it is): the most instances that can hold tenants at once.
	WorkPartitions int
	// SessionTimeout is Kafka's session.timeout.ms: how long the group waits for a silent
	// instance before its tenants move.
	SessionTimeout time.Duration
	// RebalanceTimeout is Kafka's rebalance.timeout.ms: how long instances may take to rejoin
	// a rebalance.
	RebalanceTimeout time.Duration
}

// Grouped reports whether the instance shares its tenants with others (GROUP_ID set).
func (m Membership) Grouped() bool { return m.GroupID != "" }

// WorkTopic returns the work topic whose partitions the tenants hash onto, <prefix>.work.
func (k Kafka) WorkTopic() string { return k.Topic("work") }

// The broker's default group.min.session.timeout.ms and group.max.session.timeout.ms: a
// session timeout outside them is refused when the instance joins.
const (
	minSessionTimeout = 6 * time.Second
	maxSessionTimeout = 30 * time.Minute
)

func membershipSettings() []setting {
	var out []setting
	add := func(st setting) { out = append(out, st) }
	{
		set, get := str(func(c *Config) *string { return &c.Membership.GroupID })
		add(def("GROUP_ID", "group-id", "", "consumer group shared by every instance of one deployment, which share the tenants out; empty: this instance syncs every tenant alone", GroupMembership, set, get).withKind("string"))
	}
	{
		set, get := integer(func(c *Config) *int { return &c.Membership.WorkPartitions })
		add(def("GROUP_WORK_PARTITIONS", "group-work-partitions", "64", "partitions of the work topic <prefix>.work when the service creates it: the most instances that hold tenants", GroupMembership, set, get).withKind("int"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Membership.SessionTimeout })
		add(def("GROUP_SESSION_TIMEOUT", "group-session-timeout", "30s", "session.timeout.ms: a silent instance's tenants move after this (6s-30m)", GroupMembership, set, get).withKind("duration"))
	}
	{
		set, get := dur(func(c *Config) *time.Duration { return &c.Membership.RebalanceTimeout })
		add(def("GROUP_REBALANCE_TIMEOUT", "group-rebalance-timeout", "60s", "rebalance.timeout.ms: how long instances may take to rejoin a rebalance", GroupMembership, set, get).withKind("duration"))
	}
	return out
}

// membershipProblems checks the group settings.
func (c Config) membershipProblems(bad func(string, string, ...any)) {
	m := c.Membership
	if strings.IndexFunc(m.GroupID, unicode.IsControl) >= 0 || strings.ContainsRune(m.GroupID, ' ') {
		bad("GROUP_ID", "must not contain spaces or control characters")
	}
	if m.WorkPartitions < 1 || m.WorkPartitions > maxTopicPartitions {
		bad("GROUP_WORK_PARTITIONS", "must be between 1 and %d", maxTopicPartitions)
	}
	if m.SessionTimeout < minSessionTimeout || m.SessionTimeout > maxSessionTimeout {
		bad("GROUP_SESSION_TIMEOUT", "must be between %v and %v (the brokers' default group.min/max.session.timeout.ms)", minSessionTimeout, maxSessionTimeout)
	}
	if m.RebalanceTimeout < time.Second || m.RebalanceTimeout > maxSessionTimeout {
		bad("GROUP_REBALANCE_TIMEOUT", "must be between 1s and %v", maxSessionTimeout)
	}
}
