package service

import (
	"context"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/group"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
)

type nopOwner struct{}

func (nopOwner) Own(context.Context, []string) error { return nil }
func (nopOwner) Release([]string)                    {}

// The GROUP_* defaults make valid group options, and they are the group package's defaults.
func TestGroupOptionsFromDefaults(t *testing.T) {
	c := config.Default()
	c.Membership.GroupID = "personio-cdc"
	kc, err := kafka.New(KafkaConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	opts := GroupOptions(c, []string{"acme"}, nopOwner{}, kc, nil, nil)
	if _, err := group.New(opts); err != nil {
		t.Fatalf("group.New: %v", err)
	}
	if opts.Topic != "personio.work" || opts.Partitions != group.DefaultPartitions ||
		opts.SessionTimeout != group.DefaultSessionTimeout || opts.RebalanceTimeout != group.DefaultRebalanceTimeout {
		t.Errorf("options %+v differ from the group's defaults", opts)
	}
}
