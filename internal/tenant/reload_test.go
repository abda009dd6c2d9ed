package tenant

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/personio-cdc/personio-cdc/internal/config"
)

// TestReloadedFileIsUnchanged: loading the same tenants file twice gives configurations Apply
// finds unchanged, so that the watcher's first call (and any reload that changes nothing for a
// tenant) restarts no tenant.
func TestReloadedFileIsUnchanged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.secret"), []byte("secret-of-a-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tenants.yaml")
	doc := "defaults:\n  full_sync_interval: 2h\ntenants:\n" +
		"  - name: a\n    client_id: id-a\n    client_secret_file: a.secret\n    entities: [persons, compensations]\n" +
		"  - name: b\n    client_id: id-b\n    client_secret_file: a.secret\n    delete_guard_ratio: 0.5\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	base := config.Default()
	first, err := config.LoadTenants(path, base)
	if err != nil {
		t.Fatal(err)
	}
	again, err := config.LoadTenants(path, base)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if !reflect.DeepEqual(first[i], again[i]) {
			t.Errorf("tenant %s loaded twice differs: Apply would restart it on every reload", first[i].Personio.Tenant)
		}
	}
}
