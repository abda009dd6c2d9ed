package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles personio-cdc into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "personio-cdc")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryExitCodesAndSIGTERM runs the real binary: a bad configuration exits 2, and the
// service stops on SIGTERM after its first sync with exit code 0.
func TestBinaryExitCodesAndSIGTERM(t *testing.T) {
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
		if code == http.StatusOK && strings.Count(body, `"phase": "DONE"`) == 2 {
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
