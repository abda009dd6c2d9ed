// Package progress shows how a long command is doing: a progress line on a terminal, periodic
// structured log records otherwise (CI, containers, pipes).
package progress

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Snapshot is what a poll returns: a running count and a short detail text (counts only,
// never personal data).
type Snapshot struct {
	Count  int64
	Detail string
	// Attrs are logged with each record when not on a terminal.
	Attrs []slog.Attr
}

// Options configure a Watch.
type Options struct {
	// Title names the work ("sync", "replay").
	Title string
	// Terminal selects the progress line (true) or log records (false).
	Terminal bool
	// Writer receives the progress line (usually stderr).
	Writer io.Writer
	// Logger receives the records when not on a terminal.
	Logger *slog.Logger
	// Every is how often poll runs: default 200ms on a terminal, 10s for logs.
	Every time.Duration
}

// Watch calls poll periodically and shows the result until the returned stop function is
// called; stop shows the final state once more and is safe to call twice.
func Watch(o Options, poll func() Snapshot) (stop func()) {
	if o.Every <= 0 {
		o.Every = 10 * time.Second
		if o.Terminal {
			o.Every = 200 * time.Millisecond
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var show func(s Snapshot, final bool)
	if o.Terminal && o.Writer != nil {
		bar := progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(o.Writer),
			progressbar.OptionSetDescription(o.Title),
			progressbar.OptionShowCount(),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowDescriptionAtLineEnd(),
		)
		show = func(s Snapshot, final bool) {
			bar.Describe(s.Detail)
			_ = bar.Set64(s.Count)
			if final {
				_ = bar.Finish()
				_, _ = io.WriteString(o.Writer, "\n")
			}
		}
	} else {
		show = func(s Snapshot, final bool) {
			if final {
				return // the command logs its own result
			}
			attrs := append([]slog.Attr{slog.Int64("count", s.Count)}, s.Attrs...)
			o.Logger.LogAttrs(context.Background(), slog.LevelInfo, o.Title+" progress", attrs...)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(o.Every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				show(poll(), false)
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			show(poll(), true)
		})
	}
}
