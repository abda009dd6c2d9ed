//go:build integration

package integration

import (
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/sync"
	"github.com/personio-cdc/personio-cdc/pipeline/sync/oracle"
)

// TestIntegrationPipelineTwinBonuses: compensations without ids, with persons paid two bonuses
// of one type on one day (one pair with different amounts, one identical), sync complete into
// the real Kafka, and the independent Python consumer reads every bonus under its numbered key
// with its exact amount; raising one bonus of a pair is one update.
func TestIntegrationPipelineTwinBonuses(t *testing.T) {
	p := newPipelineEnv(t, 40, func(o *personiotest.Options) {
		o.OmitCompensationIDs = true
		o.TwinBonuses = 2
	})
	r := p.runner()
	truth0 := p.expected()
	res := p.sync(r, sync.Full)
	wantCounts(t, res, oracle.Changes(oracle.State{}, truth0))
	p.verify()

	ch := p.sim.Churn(personiotest.Churn{TwinBonusChanges: 1})
	if len(ch.TwinBonusChanges) != 1 {
		t.Fatalf("churn %+v", ch)
	}
	res = p.sync(r, sync.Full)
	if got := res.Entity(string(change.Compensations)).Changes; got["u"] != 1 || got["c"]+got["d"] != 0 {
		t.Errorf("compensation changes after raising one twin: %v, want one update", got)
	}
	p.verify()
}
