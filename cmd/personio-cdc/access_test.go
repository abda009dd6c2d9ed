package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestWrongRegistryPasswordStopsEveryCommandAtStartUp: a registry that refuses the basic-auth
// credential stops sync, resnapshot, replay, tail, run, schemas register and erase before they do
// anything, with exit 1 and a message naming SCHEMA_REGISTRY_PASSWORD; the password is never
// printed, and no Personio request is made.
func TestWrongRegistryPasswordStopsEveryCommandAtStartUp(t *testing.T) {
	w := newWorld(t)
	const wrong = "wrong-registry-password-never-printed-5e1a"
	for _, args := range [][]string{{"sync"}, {"resnapshot"}, {"replay"}, {"tail", "--from-beginning"}, {"run"}, {"schemas", "register"},
		{"erase", "--person", "1"}} {
		t.Run(args[0], func(t *testing.T) {
			before := w.sim.Stats().Endpoint("POST /v2/auth/token")
			env := w.with("SCHEMA_REGISTRY_PASSWORD", wrong, "ADMIN_ADDR", freeAddr(t))
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hang fails rather than blocks
			defer cancel()
			code, out, errOut := invoke(ctx, env, args...)
			if ctx.Err() != nil {
				t.Fatalf("%s did not stop on its own\n%s", args[0], errOut)
			}
			if code != exitError {
				t.Errorf("exit %d, want %d\n%s", code, exitError, errOut)
			}
			if !strings.Contains(errOut, "SCHEMA_REGISTRY_PASSWORD: ") {
				t.Errorf("stderr does not name SCHEMA_REGISTRY_PASSWORD:\n%s", errOut)
			}
			for where, text := range map[string]string{"stdout": out, "stderr": errOut} {
				assertNoSecrets(t, where, text)
				if strings.Contains(text, wrong) {
					t.Errorf("%s reveals the wrong password", where)
				}
			}
			if n := w.sim.Stats().Endpoint("POST /v2/auth/token") - before; n != 0 {
				t.Errorf("%d Personio token requests before the refusal stopped the command, want 0", n)
			}
		})
	}
}
