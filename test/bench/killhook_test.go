package main

import "testing"

func TestWebhookRunsIn(t *testing.T) {
	metrics := `# TYPE personio_cdc_sync_runs_total counter
personio_cdc_sync_runs_total{kind="full",result="complete",tenant="acme"} 4
personio_cdc_sync_runs_total{kind="webhook",result="complete",tenant="acme"} 3
personio_cdc_sync_runs_total{kind="webhook",result="failed",tenant="acme"} 7
personio_cdc_sync_runs_total{kind="webhook",result="complete",tenant="other"} 2
personio_cdc_sync_duration_seconds_count{kind="webhook"} 12
`
	if n, err := webhookRunsIn(metrics); err != nil || n != 5 {
		t.Errorf("webhookRunsIn = %d, %v; want 5 (3 + 2 complete webhook runs)", n, err)
	}
	if n, err := webhookRunsIn(`personio_cdc_sync_runs_total{kind="webhook",result="complete"} 1`); err != nil || n != 1 {
		t.Errorf("without a tenant label: %d, %v; want 1", n, err)
	}
	if _, err := webhookRunsIn(`personio_cdc_sync_runs_total{kind="webhook",result="complete"} x`); err == nil {
		t.Error("a value that is not a number: no error")
	}
}

func TestFullSyncLogged(t *testing.T) {
	for log, want := range map[string]bool{
		`{"msg":"sync complete","tenant":"acme","component":"scheduler","kind":"full"}`:     true,
		`{"msg":"sync complete","component":"scheduler","kind":"incremental"}` + "\n" + `x`: false,
		`{"msg":"sync failed","component":"scheduler","kind":"full"}`:                       false,
	} {
		if got := fullSyncLogged(log); got != want {
			t.Errorf("fullSyncLogged(%s) = %v, want %v", log, got, want)
		}
	}
}
