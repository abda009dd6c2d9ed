//go:build integration

// Package suite holds the crash suite (TestIntegrationCrash*) and the fault suite
// (TestIntegrationFault*): the released binaries, personio-cdc and personio-sim, run as child
// processes against the real Kafka and Apicurio of scripts/testenv, and the independent Python
// consumer replays what they published. docs/SAFETY.md says what the suites prove.
package suite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/test/integration"
)

const (
	tenant     = "acme"
	partitions = 3
	lookback   = 2 // COMPENSATION_LOOKBACK_MONTHS
	// publishBatch is PUBLISH_BATCH_SIZE: the crash tests rely on syncs publishing in batches.
	publishBatch = 500
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds personio-cdc and personio-sim from this checkout once per test binary and
// returns the directory holding them.
func binaries(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			binErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "personio-cdc-safety-")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/personio-cdc", "./cmd/personio-sim")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// sim is a personio-sim child process, reached over its admin endpoints.
type sim struct {
	t   testing.TB
	url string
	cmd *exec.Cmd
	// admin is the root of the admin endpoints: /admin, or /admin/companies/<id> for one
	// company of a simulator serving several (company).
	admin string
}

// company returns the view of company id (personiotest.CompanyID) of a simulator started
// with --companies: truth, churn, stats and faults of that company alone.
func (s *sim) company(id string) *sim {
	c := *s
	c.admin = "/admin/companies/" + id
	return &c
}

// startSim starts personio-sim with args and waits for the URL it prints first.
func startSim(t testing.TB, args ...string) *sim {
	t.Helper()
	bin := filepath.Join(binaries(t), "personio-sim")
	cmd := exec.Command(bin, append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "sim.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, cmd: cmd, admin: "/admin"}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case u, ok := <-line:
		if !ok || !strings.HasPrefix(u, "http://") {
			t.Fatalf("personio-sim printed %q, want its URL", u)
		}
		s.url = strings.TrimSpace(u)
	case <-time.After(30 * time.Second):
		t.Fatal("personio-sim printed no URL within 30 s")
	}
	t.Logf("personio-sim %s at %s", strings.Join(args, " "), s.url)
	return s
}

// call sends one admin request; path is relative to s.admin ("/truth").
func (s *sim) call(method, path string, in, out any) {
	s.t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			s.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.url+s.admin+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

func (s *sim) churn(c personiotest.Churn) personiotest.ChurnResult {
	var res personiotest.ChurnResult
	s.call(http.MethodPost, "/churn", c, &res)
	return res
}

func (s *sim) truth() personiotest.Truth {
	var tr personiotest.Truth
	s.call(http.MethodGet, "/truth", nil, &tr)
	return tr
}

func (s *sim) stats() personiotest.Stats {
	var st personiotest.Stats
	s.call(http.MethodGet, "/stats", nil, &st)
	return st
}

func (s *sim) setFaults(f personiotest.Faults) {
	s.call(http.MethodPut, "/faults", f, nil)
}

// statusCount sums the API replies of a status over every endpoint.
func statusCount(st personiotest.Stats, status int) int64 {
	var n int64
	for _, by := range st.Requests {
		n += by[status]
	}
	return n
}

// cdc runs personio-cdc as a child process against one simulator and one topic prefix,
// configured through the environment only, as a deployment would.
type cdc struct {
	t      testing.TB
	env    []string
	prefix string
	dir    string
	runs   int
}

func newCDC(t testing.TB, s *sim, extra ...string) *cdc {
	t.Helper()
	return newCDCEnv(t, append([]string{
		"PERSONIO_CLIENT_ID=" + personiotest.DefaultClientID,
		"PERSONIO_CLIENT_SECRET=" + personiotest.DefaultClientSecret,
		"PERSONIO_TENANT=" + tenant,
	}, extra...), s)
}

// newCDCEnv is newCDC without a tenant: tenant holds the tenant's settings (PERSONIO_TENANT
// and its credential, or TENANTS_FILE) and any extra settings.
func newCDCEnv(t testing.TB, tenant []string, s *sim) *cdc {
	t.Helper()
	env := integration.Env(t)
	brokers = env.Brokers
	prefix := integration.UniqueTopic(t, "safety")
	vars := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"PERSONIO_BASE_URL=" + s.url,
		"KAFKA_BROKERS=" + strings.Join(env.Brokers, ","),
		"SCHEMA_REGISTRY_URL=" + env.RegistryURL,
		"TOPIC_PREFIX=" + prefix,
		fmt.Sprintf("COMPENSATION_LOOKBACK_MONTHS=%d", lookback),
		fmt.Sprintf("KAFKA_TOPIC_PARTITIONS=%d", partitions),
		"KAFKA_REPLICATION_FACTOR=1",
		"PERSONIO_RATE_LIMIT_PER_MINUTE=600000",
		"PERSONIO_RATE_BURST=500",
		"COMPENSATION_RATE_LIMIT_PER_MINUTE=600000",
		"COMPENSATION_RATE_BURST=500",
		// Small producer calls: a full sync publishes in several acknowledged batches, so kills
		// land between batches too (the service's default is 5000 events per call).
		fmt.Sprintf("PUBLISH_BATCH_SIZE=%d", publishBatch),
		"LOG_FORMAT=json",
		"LOG_LEVEL=info",
	}
	return &cdc{t: t, env: append(vars, tenant...), prefix: prefix, dir: t.TempDir()}
}

// topics returns the topic of every entity the service publishes (change.Entities), in the
// order runs list them: persons first.
func (c *cdc) topics() []string {
	var out []string
	for _, e := range change.Names() {
		out = append(out, c.prefix+"."+e)
	}
	return out
}

// proc is one running personio-cdc.
type proc struct {
	cmd     *exec.Cmd
	started time.Time
	stderr  string // log file
	stdout  *bytes.Buffer
	done    chan struct{}
	code    int // exit code; -1 when killed by a signal
}

// start runs `personio-cdc sync --<kind> --output json` (kind full or incremental), or
// `personio-cdc resnapshot --output json` (kind resnapshot).
func (c *cdc) start(kind string) *proc {
	c.t.Helper()
	args := []string{"sync", "--" + kind, "--output", "json"}
	if kind == "resnapshot" {
		args = []string{"resnapshot", "--output", "json"}
	}
	return c.startArgs(args...)
}

// startArgs runs personio-cdc with args.
func (c *cdc) startArgs(args ...string) *proc {
	c.t.Helper()
	return c.startEnv(nil, args...)
}

// startEnv runs personio-cdc with args and extra settings on top of c's (e.g. one instance's
// ADMIN_ADDR).
func (c *cdc) startEnv(extra []string, args ...string) *proc {
	c.t.Helper()
	c.runs++
	logPath := filepath.Join(c.dir, fmt.Sprintf("sync-%03d.log", c.runs))
	logf, err := os.Create(logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binaries(c.t), "personio-cdc"), args...)
	cmd.Env = append(slices.Clone(c.env), extra...)
	p := &proc{cmd: cmd, stderr: logPath, stdout: new(bytes.Buffer), done: make(chan struct{})}
	cmd.Stdout = p.stdout
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p.started = time.Now()
	go func() {
		err := cmd.Wait()
		_ = logf.Close()
		p.code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -2
		}
		close(p.done)
	}()
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// wait waits up to timeout for the process to exit; after that it kills it and fails t.
func (p *proc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.kill()
		t.Fatalf("personio-cdc did not finish within %s; log %s:\n%s", timeout, p.stderr, p.logTail())
		return -1
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}

// schedulerSyncs counts the scheduler's "sync complete" log lines of kind (every kind when
// empty) in the JSON log of `run`, whatever the order of their attributes.
func (p *proc) schedulerSyncs(kind string) int {
	n := 0
	for line := range strings.Lines(p.log()) {
		var rec struct {
			Msg, Component, Kind string
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec.Msg == "sync complete" && rec.Component == "scheduler" && (kind == "" || rec.Kind == kind) {
			n++
		}
	}
	return n
}

func (p *proc) logTail() string {
	s := p.log()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// syncResult is the part of `sync --output json` the suites read.
type syncResult struct {
	SyncID   string `json:"sync_id"`
	Outcome  string `json:"outcome"`
	Entities []struct {
		Entity  string         `json:"entity"`
		Outcome string         `json:"outcome"`
		Changes map[string]int `json:"changes"`
	} `json:"entities"`
}

func (r syncResult) published() int {
	n := 0
	for _, e := range r.Entities {
		for _, v := range e.Changes {
			n += v
		}
	}
	return n
}

func (p *proc) result(t testing.TB) syncResult {
	t.Helper()
	var r syncResult
	if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil {
		t.Fatalf("sync output %q: %v", p.stdout.String(), err)
	}
	return r
}

// syncOK runs one sync to its end and fails t unless it exits 0 with outcome complete.
func (c *cdc) syncOK(kind string, timeout time.Duration) syncResult {
	c.t.Helper()
	p := c.start(kind)
	if code := p.wait(c.t, timeout); code != 0 {
		c.t.Fatalf("%s sync exited %d; result %s; log:\n%s", kind, code, p.stdout, p.logTail())
	}
	r := p.result(c.t)
	if r.Outcome != "complete" {
		c.t.Fatalf("%s sync outcome %q", kind, r.Outcome)
	}
	return r
}

// brokers are the environment's Kafka brokers, set by endOffsets and newCDC.
var brokers []string

// offsets are the end offsets of a set of topics, by topic and partition.
type offsets map[string]map[int]int64

func (o offsets) total() int64 {
	var n int64
	for _, ps := range o {
		for _, v := range ps {
			n += v
		}
	}
	return n
}

// endOffsets reads the end offsets of topics; a topic that does not exist has none.
func endOffsets(t testing.TB, topics ...string) offsets {
	t.Helper()
	if brokers == nil {
		brokers = integration.Env(t).Brokers
	}
	// A topic just created (or a broker just restarted) has no leader for a moment.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := tryEndOffsets(topics...)
		if err == nil {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("end offsets: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tryEndOffsets(topics ...string) (offsets, error) {
	admin := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for _, tp := range topics {
		for p := range partitions {
			req.Topics[tp] = append(req.Topics[tp], kafkago.LastOffsetOf(p))
		}
	}
	resp, err := admin.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := offsets{}
	for _, tp := range topics {
		out[tp] = map[int]int64{}
		for _, po := range resp.Topics[tp] {
			if po.Error != nil {
				if errors.Is(po.Error, kafkago.UnknownTopicOrPartition) {
					continue
				}
				return nil, fmt.Errorf("%s[%d]: %w", tp, po.Partition, po.Error)
			}
			out[tp][po.Partition] = po.LastOffset
		}
	}
	return out, nil
}
