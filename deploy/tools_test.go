package deploy

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// withoutPromtool re-runs TestAlertRulesCheck in this test binary with an empty PATH, so promtool
// cannot be found, and requireTools (when not empty) as PERSONIO_CDC_REQUIRE_TOOLS. It returns
// the child's exit code and output.
func withoutPromtool(t *testing.T, requireTools string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestAlertRulesCheck$", "-test.v", "-test.count=1")
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "PERSONIO_CDC_REQUIRE_TOOLS=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PATH="+t.TempDir())
	if requireTools != "" {
		env = append(env, "PERSONIO_CDC_REQUIRE_TOOLS="+requireTools)
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	default:
		t.Fatalf("run the test binary: %v", err)
		return 0, ""
	}
}

// A machine without promtool passes `go test ./...` with the promtool checks reported as skipped
// (a fresh clone needs Go alone), but `make test`, which sets PERSONIO_CDC_REQUIRE_TOOLS=1, fails.
func TestPromtoolMissing(t *testing.T) {
	t.Run("plain go test skips", func(t *testing.T) {
		code, out := withoutPromtool(t, "")
		if code != 0 || !strings.Contains(out, "--- SKIP: TestAlertRulesCheck") {
			t.Fatalf("exit %d, want 0 with TestAlertRulesCheck skipped:\n%s", code, out)
		}
		if !strings.Contains(out, "PERSONIO_CDC_REQUIRE_TOOLS") {
			t.Errorf("the skip does not say how to make it required:\n%s", out)
		}
	})
	t.Run("required tools fail", func(t *testing.T) {
		code, out := withoutPromtool(t, "1")
		if code == 0 || !strings.Contains(out, "--- FAIL: TestAlertRulesCheck") || !strings.Contains(out, "promtool not found") {
			t.Fatalf("exit %d, want a failure naming promtool:\n%s", code, out)
		}
	})
}
