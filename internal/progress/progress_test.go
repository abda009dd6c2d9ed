package progress

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestLogsWhenNotATerminal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		var n atomic.Int64
		stop := Watch(Options{Title: "replay", Logger: slog.New(slog.NewTextHandler(&buf, nil)), Every: time.Second},
			func() Snapshot {
				return Snapshot{Count: n.Load(), Attrs: []slog.Attr{slog.String("topic", "personio.persons")}}
			})
		n.Store(42)
		time.Sleep(2500 * time.Millisecond)
		stop()
		stop()
		out := buf.String()
		if got := strings.Count(out, "replay progress"); got != 2 {
			t.Errorf("want 2 progress records in 2.5s at 1s, got %d:\n%s", got, out)
		}
		if !strings.Contains(out, "count=42") || !strings.Contains(out, "topic=personio.persons") {
			t.Errorf("records lack count or attrs:\n%s", out)
		}
	})
}

func TestBarOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	stop := Watch(Options{Title: "sync", Terminal: true, Writer: &buf, Every: time.Millisecond},
		func() Snapshot { return Snapshot{Count: 7, Detail: "pages 7 · limiter wait 1.2s"} })
	stop()
	out := buf.String()
	if !strings.Contains(out, "7") || !strings.Contains(out, "limiter wait 1.2s") {
		t.Errorf("progress line lacks count or detail: %q", out)
	}
}
