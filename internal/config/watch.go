package config

import (
	"context"
	"time"
)

// DefaultTenantsPollInterval is how often WatchTenants reads the tenants file when not told
// (TENANTS_POLL_INTERVAL's default).
const DefaultTenantsPollInterval = 10 * time.Second

// WatchTenants reads the tenants file at path (LoadTenants with base) every `every` (10s when
// 0 or less) until ctx is done, and calls fn with what it read: once at once, and then each
// time the content changed. A reload that fails calls fn with a nil slice and the error; the
// caller keeps the set it has (an invalid file stops nothing and starts nothing) and the
// watcher calls fn again once the file changes. An unchanged reading, valid or not, calls fn
// no more.
//
// "Changed" is the content: the file's bytes and those of every secret file it names, hashed.
// Neither modification times nor file events are used, so a Kubernetes ConfigMap or Secret
// update (a symbolic link swapped for one pointing at a new directory) and a rotated client
// secret are seen like an edit in place. The first call closes the gap between the caller's
// own LoadTenants and the start of the watch: apply it like any other (the tenant set is
// reconciled, so an equal set changes nothing).
//
// fn runs on the watcher's goroutine; the next reading waits for it to return.
func WatchTenants(ctx context.Context, path string, base Config, every time.Duration, fn func([]Config, error)) {
	if every <= 0 {
		every = DefaultTenantsPollInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last [32]byte
	first := true
	for {
		cfgs, sum, err := loadTenants(path, base)
		if ctx.Err() != nil {
			return
		}
		if first || sum != last {
			first, last = false, sum
			fn(cfgs, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
