package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

// refreshTest is the simulated day the employment_refresh_share figure comes from.
const refreshTest = "TestRefreshDayKeepsPeriodWithinShare"

var refreshShareRE = regexp.MustCompile(`employment_refresh_share ([0-9.]+) \(([0-9]+) requests of ([0-9]+)\)`)

// refreshFigures runs the simulated day of internal/service (refreshTest): the service's
// Scheduler and refresh.Planner for 24 hours at 10,000 persons, time-compressed by
// testing/synctest's fake clock (the day takes seconds), with Personio's budget as one
// rate.Limiter shared by the syncs and the refresh. The test fails unless every person is read
// within the period and the syncs run exactly as without the refresh; the figure is the share
// of the day's budget the refresh used, which the test logs.
func refreshFigures(ctx context.Context, logf func(string, ...any)) ([]Figure, error) {
	logf("employment refresh: a simulated day at 10,000 persons (go test -run %s ./internal/service) ...", refreshTest)
	out, err := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^"+refreshTest+"$", "-v",
		"./internal/service").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("employment refresh day: %w\n%s", err, out)
	}
	m := refreshShareRE.FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("employment refresh day: no employment_refresh_share line in\n%s", out)
	}
	share, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return nil, fmt.Errorf("employment refresh day: %w", err)
	}
	return []Figure{{Name: "employment_refresh_share", Value: share, Goal: "<= 0.5",
		Note: fmt.Sprintf("%s of %s requests of a simulated day (synctest's fake clock) at 10,000 persons, full sync hourly and incremental every 5 min moving 10 persons; every person read within 24 h, syncs undelayed",
			m[2], m[3])}}, nil
}
