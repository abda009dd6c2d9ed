package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBinary compiles personio-cdc once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "personio-cdc-test-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "personio-cdc")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// TestBinaryExitCodesAndSIGTERM runs the real binary: a bad configuration exits 2, and the
// service stops on SIGTERM after its first sync with exit code 0.
func TestBinaryExitCodesAndSIGTERM(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitConfig {
		t.Fatalf("run without settings: %v, want exit %d\n%s", err, exitConfig, stderr.String())
	}
	for _, want := range []string{"PERSONIO_CLIENT_ID is required", "PERSONIO_CLIENT_SECRET is required", "PERSONIO_TENANT is required"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q", want)
		}
	}

	w := newWorld(t)
	addr := freeAddr(t)
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range w.with("ADMIN_ADDR", addr, "LOG_LEVEL", "info") {
		env = append(env, k+"="+v)
	}
	stderr.Reset()
	cmd = exec.Command(bin, "run")
	cmd.Env = env
	cmd.Stderr = &stderr // read only after Wait
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	for i := 0; ; i++ {
		code, body := get(t, "http://"+addr+"/status")
		if code == http.StatusOK && strings.Count(body, `"phase": "DONE"`) == 3 {
			break
		}
		if i > 3000 {
			t.Fatalf("no completed sync:\n%s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit 0", err)
	}
	if !strings.Contains(stderr.String(), "personio-cdc stopped") {
		t.Errorf("no orderly stop in the log")
	}
}

// TestBinaryShutdownWithSyncInFlight stops the service while a sync hangs on a slow Personio:
// past SHUTDOWN_TIMEOUT the sync is abandoned and the process exits 0; a second signal exits at
// once with 1.
func TestBinaryShutdownWithSyncInFlight(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	tests := []struct {
		name         string
		timeout      string
		secondSignal bool
		wantExit     int
		wantInStderr string
	}{
		{"timeout abandons the sync", "100ms", false, exitOK, "abandoning the sync in flight"},
		{"second signal exits hard", "10m", true, exitError, "second signal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.sim.SetFaults(personiotest.Faults{Latency: time.Second}) // every sync stays in flight a while
			addr := freeAddr(t)
			env := []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range w.with("ADMIN_ADDR", addr, "LOG_LEVEL", "info", "SHUTDOWN_TIMEOUT", tt.timeout) {
				env = append(env, k+"="+v)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "run")
			cmd.Env = env
			cmd.Stderr = &stderr // read only after Wait
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			for i := 0; ; i++ {
				code, body := get(t, "http://"+addr+"/status")
				if code == http.StatusOK && strings.Contains(body, `"running": true`) {
					break
				}
				if i > 3000 {
					t.Fatalf("no sync in flight:\n%s", body)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if tt.secondSignal {
				// Wait until the first signal is handled (readiness turns 503), then signal again.
				for i := 0; ; i++ {
					if code, _ := get(t, "http://"+addr+"/readyz"); code == http.StatusServiceUnavailable {
						break
					}
					if i > 3000 {
						t.Fatal("readiness never turned 503 after SIGTERM")
					}
					time.Sleep(10 * time.Millisecond)
				}
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			}
			err := cmd.Wait()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantExit || !strings.Contains(stderr.String(), tt.wantInStderr) {
				t.Errorf("exit %d, want %d; stderr should contain %q:\n%s", code, tt.wantExit, tt.wantInStderr, stderr.String())
			}
		})
	}
}

// TestBinaryBadNumbersAndHeaderStringsExit2 runs the real binary with settings that used to slip
// through validation (non-finite rate limits, a line break in a header value): it must exit 2
// before doing anything, naming each setting, instead of failing later with exit 1 and the
// client's Go field names.
func TestBinaryBadNumbersAndHeaderStringsExit2(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{
			"non-finite rate limits",
			[]string{"PERSONIO_RATE_LIMIT_PER_MINUTE=NaN", "COMPENSATION_RATE_LIMIT_PER_MINUTE=Inf"},
			[]string{"PERSONIO_RATE_LIMIT_PER_MINUTE", "COMPENSATION_RATE_LIMIT_PER_MINUTE", "not a finite number"},
		},
		{
			"line break in a header value",
			[]string{"PERSONIO_APP_ID=acme-payroll\r\nX-Injected: 1", "PERSONIO_PARTNER_ID=p\rq"},
			[]string{"PERSONIO_APP_ID must not contain control characters", "PERSONIO_PARTNER_ID must not contain control characters"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{
				"PATH=" + os.Getenv("PATH"),
				"PERSONIO_CLIENT_ID=papi-client",
				"PERSONIO_CLIENT_SECRET=" + testClientSecret,
				"PERSONIO_TENANT=acme",
				"PERSONIO_BASE_URL=http://127.0.0.1:1", // never reached
				"KAFKA_BROKERS=127.0.0.1:1",
			}, tt.env...)
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "sync")
			cmd.Env = env
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != exitConfig {
				t.Fatalf("sync: %v, want exit %d\n%s", err, exitConfig, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if strings.Contains(stderr.String(), "X-Injected") || strings.Contains(stderr.String(), testClientSecret) {
				t.Errorf("stderr echoes the bad value or the secret:\n%s", stderr.String())
			}
		})
	}
}

// TestBinaryInterruptedSyncFails stops a one-shot sync and a resnapshot with SIGTERM while they
// wait on a slow Personio: the run did not complete, so the exit code must say so (a CronJob
// counts exit 0 as success), and the JSON result says failed.
func TestBinaryInterruptedSyncFails(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	for _, command := range []string{"sync", "resnapshot"} {
		t.Run(command, func(t *testing.T) {
			w := newWorld(t)
			w.sim.SetFaults(personiotest.Faults{Latency: 500 * time.Millisecond}) // the run stays in flight a while
			env := []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range w.with("LOG_LEVEL", "info") {
				env = append(env, k+"="+v)
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, command, "--output", "json")
			cmd.Env = env
			cmd.Stdout, cmd.Stderr = &stdout, &stderr // read only after Wait
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			// Signal once Personio has answered a request: the process is past start-up and
			// its sync is under way.
			for i := 0; w.sim.Stats().Total == 0; i++ {
				if i > 3000 {
					t.Fatal("the command never reached Personio")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != exitError {
				t.Fatalf("%s after SIGTERM: %v, want exit %d\nstdout:\n%s\nstderr:\n%s", command, err, exitError, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), `"outcome": "failed"`) {
				t.Errorf("the JSON result does not say failed:\n%s", stdout.String())
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("the log does not say the run was interrupted:\n%s", stderr.String())
			}
		})
	}
}
