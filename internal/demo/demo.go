// Package demo runs personio-cdc end to end inside one process, with nothing set up: a
// simulated Personio (personiotest, real HTTP on 127.0.0.1), an in-process Kafka (kfake) and an
// in-process schema registry (srfake). It runs sync cycles while the simulated company hires,
// fires, renames, changes salaries and changes employments (hours, positions, cost centers;
// their person's updated_at stays), and prints every event as a consumer decodes it: read
// back from Kafka and decoded through the registry, the real path. After the cycles, a last
// churn is delivered by the simulator's webhooks to the service's receiver on loopback, and
// its targeted runs publish it without any sync: each such event is printed with the time
// from the change to its record on Kafka.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/personio-cdc/personio-cdc/internal/config"
	"github.com/personio-cdc/personio-cdc/internal/inspect"
	"github.com/personio-cdc/personio-cdc/internal/kafka"
	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/internal/service"
	syncrun "github.com/personio-cdc/personio-cdc/pipeline/sync"
)

// Options configure a demo run.
type Options struct {
	// Cycles is the number of sync cycles (default 4). The first is a full sync (every
	// person and compensation is created), the last is a full sync (deletes show), and the
	// ones between alternate incremental and full syncs. Churn happens between cycles.
	Cycles int
	// Persons is the size of the simulated company (default 25).
	Persons int
	// Seed makes the company and its churn repeatable (default 1).
	Seed int64
	// Churn is the change applied between cycles (default: a few of each kind).
	Churn personiotest.Churn
	// JSON prints one JSON object per event and nothing else; otherwise one readable line
	// per event with a header per cycle.
	JSON bool
	// Color colours the readable output (for terminals).
	Color bool
	// Pause waits after each cycle (before the next and before the webhook step), so that a
	// person can follow along (default none).
	Pause time.Duration
	// Out receives the events.
	Out io.Writer
	// Logger receives the service's log records (default: discard).
	Logger *slog.Logger
	// Registerer receives the service's metrics (default: a private registry).
	Registerer prometheus.Registerer
	// CycleTimeout bounds each cycle (sync and read-back), so that a stuck component fails
	// the demo with an error instead of hanging it (default 2 minutes).
	CycleTimeout time.Duration
}

// DefaultChurn is the change applied between cycles. The employment and cost center changes
// leave their person's updated_at alone, as Personio does: an incremental sync does not see
// them, the next full sync does.
var DefaultChurn = personiotest.Churn{
	Hires: 2, Terminations: 1, Deletions: 1, Renames: 2, EmailChanges: 1, AttributeChanges: 1,
	SalaryChanges: 3, Bonuses: 1, EmploymentChanges: 1, CostCenterChanges: 1,
}

// Summary is what a demo run did.
type Summary struct {
	Cycles []syncrun.Result
	// Events counts the events read back from Kafka, by op ("c", "u", "d", "r", "tombstone").
	Events map[string]int
	// Live is the number of current entities per topic after replaying the topics, and Truth
	// what the simulator holds: they match when the pipeline lost and invented nothing.
	Live  map[string]int
	Truth map[string]int
	// Webhook counts the events of the webhook step (source.sync_kind "webhook") by entity,
	// and WebhookLatency holds, per event, the time from the churn to its Kafka record.
	Webhook        map[string]int
	WebhookLatency []time.Duration
}

// WebhookChurn is the change the webhook step makes: changes Personio sends webhooks for
// (names, a termination, employment and cost center changes), none touching compensations,
// which have no webhooks and stay polled.
var WebhookChurn = personiotest.Churn{Renames: 2, Terminations: 1, EmploymentChanges: 1, CostCenterChanges: 1}

// The receiver's token and path in the demo (loopback only).
const (
	demoWebhookToken = "demo-webhook-token-0123456789"
	demoWebhookPath  = config.DefaultWebhookPath
)

// demoRate lets the demo run in seconds; the simulator enforces the same budget.
var demoRate = personiotest.Rate{PerMinute: 60000, Burst: 200}

// Run runs the demo and returns what it did. It stops early, returning ctx.Err(), when ctx
// ends.
func Run(ctx context.Context, o Options) (Summary, error) {
	if o.Cycles <= 0 {
		o.Cycles = 4
	}
	if o.Persons <= 0 {
		o.Persons = 25
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Churn == (personiotest.Churn{}) {
		o.Churn = DefaultChurn
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.CycleTimeout <= 0 {
		o.CycleTimeout = 2 * time.Minute
	}
	sum := Summary{Events: map[string]int{}, Live: map[string]int{}, Truth: map[string]int{}, Webhook: map[string]int{}}

	// The simulated world: Personio, Kafka and a schema registry, all on 127.0.0.1.
	sim, err := personiotest.New(personiotest.Options{
		Persons: o.Persons, Seed: o.Seed, RateLimit: demoRate, CompensationRateLimit: demoRate,
		// As much history as the service looks back, so that the replay can be compared
		// with the simulator's truth.
		CompensationMonths: config.Default().Sync.CompensationLookbackMonths,
		// Deliveries go to the receiver on loopback at once; a failed one is retried soon.
		Webhooks: personiotest.WebhookOptions{Backoff: 100 * time.Millisecond},
	})
	if err != nil {
		return sum, fmt.Errorf("simulator: %w", err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		return sum, fmt.Errorf("simulator: %w", err)
	}
	defer sim.Close()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return sum, fmt.Errorf("in-process kafka: %w", err)
	}
	defer cluster.Close()
	registry := srfake.New()
	defer registry.Close()

	cfg := Config(sim.URL(), cluster.ListenAddrs(), registry.URL())
	stack, err := service.Build(cfg, o.Registerer, o.Logger)
	if err != nil {
		return sum, err
	}
	defer stack.Close()

	p := &printer{o: o, dec: inspect.NewDecoder(stack.Registry), kc: stack.Kafka, topics: service.Topics(cfg),
		seen: map[string]map[int]int64{}, people: inspect.NewPeople(), sum: &sum}
	if !o.JSON {
		fmt.Fprintf(o.Out, "personio-cdc demo: simulated Personio with %d persons at %s, in-process Kafka and schema registry\n",
			o.Persons, sim.URL())
	}
	for i := 1; i <= o.Cycles; i++ {
		kind := syncrun.Full
		if i > 1 && i < o.Cycles && i%2 == 0 {
			kind = syncrun.Incremental
		}
		var churned string
		var employmentOnly int
		if i > 1 {
			res := sim.Churn(o.Churn)
			churned = describe(res)
			employmentOnly = len(res.EmploymentChanges) + len(res.CostCenterChanges)
		}
		if !o.JSON {
			fmt.Fprintf(o.Out, "\n── cycle %d/%d · %s sync", i, o.Cycles, kind)
			if churned != "" {
				fmt.Fprintf(o.Out, " · since the last cycle: %s", churned)
			}
			fmt.Fprintln(o.Out, " ──")
			if kind == syncrun.Incremental && employmentOnly > 0 {
				fmt.Fprintln(o.Out, "   (employment-only changes leave the person's updated_at alone: the next full sync shows them)")
			}
		}
		cctx, cancel := context.WithTimeout(ctx, o.CycleTimeout)
		res, err := stack.Runner.Run(cctx, kind)
		sum.Cycles = append(sum.Cycles, res)
		if err == nil {
			if err = p.printNew(cctx); err != nil {
				err = fmt.Errorf("read back: %w", err)
			}
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
			return sum, fmt.Errorf("cycle %d: %w", i, err)
		}
		if !o.JSON {
			fmt.Fprintf(o.Out, "   %s: %s in %s\n", res.Outcome, published(res), res.Duration.Round(time.Millisecond))
		}
		if res.Outcome != syncrun.Complete {
			return sum, fmt.Errorf("cycle %d: sync %s: %s", i, res.Outcome, strings.Join(res.Errors, "; "))
		}
		if o.Pause > 0 {
			select {
			case <-time.After(o.Pause):
			case <-ctx.Done():
				return sum, ctx.Err()
			}
		}
	}

	if err := webhookStep(ctx, o, sim, stack, p); err != nil {
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		return sum, fmt.Errorf("webhooks: %w", err)
	}

	// Replay the topics like a new consumer and compare with the simulator's truth.
	rctx, cancel := context.WithTimeout(ctx, o.CycleTimeout)
	defer cancel()
	st, err := inspect.Replay(rctx, stack.Kafka, p.dec, p.topics, nil)
	if err != nil {
		return sum, err
	}
	for _, ts := range st.Topics() {
		sum.Live[ts.Topic] = ts.Live()
	}
	truth := sim.Truth()
	sum.Truth[cfg.Kafka.Topic("persons")] = len(truth.Persons)
	sum.Truth[cfg.Kafka.Topic("compensations")] = len(truth.Compensations)
	emps := 0
	for _, p := range truth.Persons {
		emps += len(truth.Employments[p.ID])
	}
	sum.Truth[cfg.Kafka.Topic("employments")] = emps
	if !o.JSON {
		fmt.Fprintln(o.Out, "\n── replay from offset 0 (what a new consumer sees) ──")
		for _, t := range p.topics {
			mark := "matches the simulator"
			if sum.Live[t] != sum.Truth[t] {
				mark = fmt.Sprintf("simulator has %d", sum.Truth[t])
			}
			fmt.Fprintf(o.Out, "   %-24s %4d current entities · %s\n", t, sum.Live[t], mark)
		}
		fmt.Fprintln(o.Out, "\nNext: `personio-cdc demo --output json | jq .` for the raw events; README.md for running against real Personio and Kafka.")
	}
	return sum, nil
}

// Config is the service configuration the demo uses against the in-process endpoints.
func Config(personioURL string, brokers []string, registryURL string) config.Config {
	cfg := config.Default()
	cfg.Personio.BaseURL = personioURL
	cfg.Personio.ClientID = personiotest.DefaultClientID
	cfg.Personio.ClientSecret = config.Secret(personiotest.DefaultClientSecret)
	cfg.Personio.Tenant = "demo"
	cfg.Personio.RateLimitPerMinute = demoRate.PerMinute
	cfg.Personio.RateBurst = demoRate.Burst
	cfg.Personio.CompensationRateLimitPerMinute = demoRate.PerMinute
	cfg.Personio.CompensationRateBurst = demoRate.Burst
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.TopicPartitions = 3
	cfg.Kafka.ReplicationFactor = 1
	cfg.SchemaRegistry.URL = registryURL
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Webhook.Addr = "127.0.0.1:0"
	cfg.Webhook.Path = demoWebhookPath
	cfg.Webhook.Token = config.Secret(demoWebhookToken)
	return cfg
}

// printer reads the records the last cycle added to each topic and prints them.
type printer struct {
	o      Options
	dec    *inspect.Decoder
	kc     *kafka.Client
	topics []string
	seen   map[string]map[int]int64 // next unread offset per topic and partition
	people *inspect.People
	sum    *Summary
	// changedAt, when set, is when the webhook step's churn happened: events of a targeted
	// run are counted and printed with their latency from it.
	changedAt time.Time
}

func (p *printer) printNew(ctx context.Context) error {
	enc := json.NewEncoder(p.o.Out)
	enc.SetEscapeHTML(false)
	style := inspect.Style{Color: p.o.Color, People: p.people}
	for _, topic := range p.topics {
		seen := p.seen[topic]
		if seen == nil {
			seen = map[int]int64{}
			p.seen[topic] = seen
		}
		err := p.kc.ReadToEnd(ctx, topic, func(r kafka.Record) error {
			if r.Offset < seen[r.Partition] {
				return nil
			}
			seen[r.Partition] = r.Offset + 1
			m, err := p.dec.Message(ctx, topic, r)
			if err != nil {
				return err
			}
			p.sum.Events[m.Op()]++
			p.people.Observe(m)
			suffix := ""
			if !p.changedAt.IsZero() && syncKind(m) == string(syncrun.Webhook) {
				lat := max(0, m.Timestamp.Sub(p.changedAt))
				p.sum.Webhook[m.Entity()]++
				p.sum.WebhookLatency = append(p.sum.WebhookLatency, lat)
				suffix = fmt.Sprintf("  · by webhook, on Kafka in %s", lat.Round(time.Millisecond))
			}
			if p.o.JSON {
				return enc.Encode(m)
			}
			_, err = fmt.Fprintln(p.o.Out, "   "+style.Summary(m)+suffix)
			return err
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func published(r syncrun.Result) string {
	var parts []string
	for _, e := range r.Entities {
		var ops []string
		for _, op := range []string{"c", "u", "d", "r"} {
			if n := e.Changes[op]; n > 0 {
				ops = append(ops, fmt.Sprintf("%s=%d", op, n))
			}
		}
		if len(ops) == 0 {
			ops = []string{"no changes"}
		}
		parts = append(parts, e.Entity+" "+strings.Join(ops, " "))
	}
	return strings.Join(parts, " · ")
}

func describe(c personiotest.ChurnResult) string {
	var parts []string
	add := func(n int, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	add(len(c.Hires), "hire", "hires")
	add(len(c.Terminations), "termination", "terminations")
	add(len(c.Deletions), "deletion", "deletions")
	add(len(c.Renames), "rename", "renames")
	add(len(c.EmailChanges), "e-mail change", "e-mail changes")
	add(len(c.AttributeChanges), "attribute change", "attribute changes")
	add(len(c.SalaryChanges), "salary change", "salary changes")
	add(len(c.Bonuses), "bonus", "bonuses")
	add(len(c.EmploymentChanges), "employment change", "employment changes")
	add(len(c.CostCenterChanges), "cost center change", "cost center changes")
	return strings.Join(parts, ", ")
}

// syncKind returns the event's source.sync_kind ("" for a tombstone).
func syncKind(m inspect.Message) string {
	src, _ := m.Value.Get("source").(inspect.Object)
	return src.String("sync_kind")
}

// webhookStep registers a webhook for the service's receiver (plain http on loopback, which
// the simulator allows there only), makes WebhookChurn, waits until the simulator delivered
// every event and the targeted runs published them, and prints what they published. No sync
// runs meanwhile: what appears came by webhook.
func webhookStep(ctx context.Context, o Options, sim *personiotest.Server, stack *service.Stack, p *printer) error {
	hooks, err := service.NewWebhooks(stack.Config, stack.Targets, nil, prometheus.NewRegistry(), o.Logger)
	if err != nil {
		return err
	}
	if hooks == nil {
		return errors.New("the webhook trigger is off")
	}
	ctx, cancel := context.WithTimeout(ctx, o.CycleTimeout)
	defer cancel()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- hooks.Run(stop, ctx) }()
	stopped := false
	stopHooks := func() error {
		if stopped {
			return nil
		}
		stopped = true
		close(stop)
		return <-done
	}
	defer func() { _ = stopHooks() }()
	for hooks.ListenAddr() == nil {
		select {
		case err := <-done:
			stopped = true
			return fmt.Errorf("receiver: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	url := "http://" + hooks.ListenAddr().String() + demoWebhookPath
	if _, err := stack.Personio.CreateWebhook(ctx, personio.WebhookSpec{URL: url, Description: "personio-cdc demo",
		Status: personio.WebhookEnabled, Token: demoWebhookToken, EnabledEvents: personio.PersonEvents}); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	p.changedAt = time.Now()
	res := sim.Churn(WebhookChurn)
	if !o.JSON {
		fmt.Fprintf(o.Out, "\n── webhooks · no sync runs · %s, delivered by the simulator's webhooks to the receiver on %s ──\n",
			describe(res), hooks.ListenAddr())
	}
	// Settled: nothing left to deliver, nothing queued or in flight in the receiver.
	q := hooks.Receiver.Queue()
	for sim.WebhookStats().Pending > 0 || q.Len() > 0 || q.InFlight() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("deliveries not published: simulator %+v, queued %d, in flight %d", sim.WebhookStats(), q.Len(), q.InFlight())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := stopHooks(); err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	if st := sim.WebhookStats(); st.GivenUp > 0 {
		return fmt.Errorf("the simulator gave up %d deliveries", st.GivenUp)
	}
	if err := p.printNew(ctx); err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if !o.JSON {
		var slowest time.Duration
		for _, l := range p.sum.WebhookLatency {
			slowest = max(slowest, l)
		}
		n := 0
		for _, c := range p.sum.Webhook {
			n += c
		}
		fmt.Fprintf(o.Out, "   %d events published by webhook, the last on Kafka %s after the change\n", n, slowest.Round(time.Millisecond))
	}
	return nil
}
