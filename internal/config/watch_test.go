package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// reading is one call of WatchTenants' fn.
type reading struct {
	names []string
	err   error
}

// recorder collects the calls of fn.
type recorder struct {
	mu    sync.Mutex
	calls []reading
}

func (r *recorder) fn(cfgs []Config, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, c := range cfgs {
		names = append(names, c.Personio.Tenant)
	}
	r.calls = append(r.calls, reading{names, err})
}

func (r *recorder) get() []reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]reading(nil), r.calls...)
}

const (
	oneTenant  = "tenants:\n  - name: acme\n    client_id: c1\n    client_secret_file: secrets/acme\n"
	twoTenant2 = oneTenant + "  - name: globex\n    client_id: c2\n    client_secret_file: secrets/globex\n"
)

// The watcher reports the file at once, then only what changed: an edit, an invalid file
// (with the error, once), the file fixed again, a rotated secret; an unchanged file is silent.
// Time is synctest's: the polls happen without waiting, and no assertion depends on timing.
func TestWatchTenants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := tenantDir(t)
		path := writeTenants(t, dir, oneTenant)
		ctx, cancel := context.WithCancel(t.Context())
		var rec recorder
		done := make(chan struct{})
		go func() {
			defer close(done)
			WatchTenants(ctx, path, tenantBase(), 10*time.Second, rec.fn)
		}()
		// poll lets the watcher read the file n more times.
		poll := func(n int) {
			for range n {
				time.Sleep(10 * time.Second)
				synctest.Wait()
			}
		}
		synctest.Wait()
		steps := []struct {
			name   string
			change func()
			want   []string // names of the new call; nil: no call
			errHas string   // the new call's error
		}{
			{"unchanged", func() {}, nil, ""},
			{"rewritten with the same bytes", func() { writeTenants(t, dir, oneTenant) }, nil, ""},
			{"a tenant added", func() { writeTenants(t, dir, twoTenant2) }, []string{"acme", "globex"}, ""},
			{"invalid", func() { writeTenants(t, dir, twoTenant2+"    rate_burst: nope\n") }, nil, `rate_burst: "nope" is not an integer`},
			{"still invalid", func() {}, nil, ""},
			{"fixed", func() { writeTenants(t, dir, oneTenant) }, []string{"acme"}, ""},
			{"secret rotated", func() {
				must(t, os.WriteFile(filepath.Join(dir, "secrets", "acme"), []byte("rotated-secret-0001"), 0o600))
			}, []string{"acme"}, ""},
			{"secret file removed", func() { must(t, os.Remove(filepath.Join(dir, "secrets", "acme"))) }, nil, "client_secret_file: the file it names cannot be read: not found"},
		}
		got := rec.get()
		if len(got) != 1 || got[0].err != nil || strings.Join(got[0].names, ",") != "acme" {
			t.Fatalf("first call %+v, want acme", got)
		}
		for _, st := range steps {
			before := len(rec.get())
			st.change()
			poll(3)
			got := rec.get()[before:]
			switch {
			case st.want == nil && st.errHas == "":
				if len(got) != 0 {
					t.Errorf("%s: %d calls (%+v), want none", st.name, len(got), got)
				}
			case len(got) != 1:
				t.Errorf("%s: %d calls (%+v), want one", st.name, len(got), got)
			case st.errHas != "":
				if got[0].err == nil || !strings.Contains(got[0].err.Error(), st.errHas) || got[0].names != nil {
					t.Errorf("%s: call %v %v, want no tenants and an error saying %q", st.name, got[0].names, got[0].err, st.errHas)
				}
			case got[0].err != nil || strings.Join(got[0].names, ",") != strings.Join(st.want, ","):
				t.Errorf("%s: call %+v, want %v", st.name, got[0], st.want)
			}
		}
		cancel()
		<-done // WatchTenants returns once ctx is done
	})
}

// A Kubernetes ConfigMap volume updates by swapping a symbolic link: tenants.yaml ->
// ..data/tenants.yaml, ..data -> ..<timestamp>. The file's inode and modification time at the
// path never change; its content does, and that is what the watcher compares.
func TestWatchTenantsConfigMapSwap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := tenantDir(t)
		version := func(name, doc string) {
			must(t, os.MkdirAll(filepath.Join(dir, name), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, name, "tenants.yaml"), []byte(doc), 0o644))
		}
		swap := func(name string) {
			tmp := filepath.Join(dir, "..data_tmp")
			must(t, os.Symlink(name, tmp))
			must(t, os.Rename(tmp, filepath.Join(dir, "..data"))) // atomic, as the kubelet does
		}
		version("..v1", oneTenant)
		swap("..v1")
		path := filepath.Join(dir, "tenants.yaml")
		must(t, os.Symlink(filepath.Join("..data", "tenants.yaml"), path))

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var rec recorder
		go WatchTenants(ctx, path, tenantBase(), time.Second, rec.fn)
		synctest.Wait()
		version("..v2", twoTenant2)
		swap("..v2")
		time.Sleep(time.Second)
		synctest.Wait()
		got := rec.get()
		if len(got) != 2 || got[1].err != nil || strings.Join(got[1].names, ",") != "acme,globex" {
			t.Fatalf("calls %+v, want acme then acme,globex", got)
		}
		// The secret paths are relative to the link's directory, where the secrets are.
		cancel()
		synctest.Wait()
	})
}
