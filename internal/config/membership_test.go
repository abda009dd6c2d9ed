package config

import (
	"errors"
	"flag"
	"testing"
	"time"
)

func TestMembershipSettings(t *testing.T) {
	base := func() Config {
		c := Default()
		c.Personio.Tenant, c.Personio.ClientID, c.Personio.ClientSecret = "t", "id", "s"
		return c
	}
	c := base()
	if c.Membership.Grouped() || c.Membership.WorkPartitions != 64 || c.Membership.SessionTimeout != 30*time.Second ||
		c.Membership.RebalanceTimeout != time.Minute {
		t.Errorf("defaults: %+v (single-instance mode by default)", c.Membership)
	}
	if got := c.Kafka.WorkTopic(); got != "personio.work" {
		t.Errorf("work topic %q, want personio.work", got)
	}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		bad  string // the setting named; "" means valid
	}{
		{"grouped", func(c *Config) { c.Membership.GroupID = "personio-cdc-prod" }, ""},
		{"group id with a space", func(c *Config) { c.Membership.GroupID = "a b" }, "GROUP_ID"},
		{"no partitions", func(c *Config) { c.Membership.WorkPartitions = 0 }, "GROUP_WORK_PARTITIONS"},
		{"session below the broker's minimum", func(c *Config) { c.Membership.SessionTimeout = 5 * time.Second }, "GROUP_SESSION_TIMEOUT"},
		{"session above the broker's maximum", func(c *Config) { c.Membership.SessionTimeout = time.Hour }, "GROUP_SESSION_TIMEOUT"},
		{"rebalance", func(c *Config) { c.Membership.RebalanceTimeout = 0 }, "GROUP_REBALANCE_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.Validate()
			if tc.bad == "" {
				if err != nil {
					t.Fatalf("valid settings refused: %v", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Validate = %v, want a problem with %s", err, tc.bad)
			}
			found := false
			for _, p := range ce.Problems {
				found = found || p.Setting == tc.bad
			}
			if !found {
				t.Errorf("no problem names %s: %v", tc.bad, err)
			}
		})
	}
	// From the environment and flags, as every setting.
	env := map[string]string{"GROUP_ID": "cdc", "GROUP_WORK_PARTITIONS": "12", "GROUP_SESSION_TIMEOUT": "45s"}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	l := NewLoader(fs, GroupMembership)
	if err := fs.Parse([]string{"--group-rebalance-timeout=2m"}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if m := got.Membership; m.GroupID != "cdc" || m.WorkPartitions != 12 || m.SessionTimeout != 45*time.Second || m.RebalanceTimeout != 2*time.Minute {
		t.Errorf("loaded %+v", m)
	}
}
