package main

import (
	"testing"
	"time"
)

func TestComp422Figure(t *testing.T) {
	f, err := comp422Figure(t.Context(), 300, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if f.Status() != "PASS" {
		t.Errorf("%s: %s", f.Line(), f.Note)
	}
}

func TestCompConcurrencyTmin(t *testing.T) {
	// 300 requests, 2 in flight, 300 ms + U[0, 200 ms): 300 × 0.4 s / 2 = 60 s.
	if got := compConcurrencyTmin(300, 300*time.Millisecond, 200*time.Millisecond); got != 60*time.Second {
		t.Errorf("compConcurrencyTmin = %v, want 60s", got)
	}
}
