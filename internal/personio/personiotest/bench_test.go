package personiotest

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkSimulatorThroughput measures persons pages of 50 served over real loopback HTTP
// to parallel clients, with rate limits off.
func BenchmarkSimulatorThroughput(b *testing.B) {
	s := NewTestServer(b, Options{Persons: 1000, Seed: 1, NoRateLimit: true})
	c := newAPIClient(b, s)
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := s.URL() + "/v2/persons?limit=50"
	auth := "Bearer " + c.token
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", auth)
			resp, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n == 0 {
				b.Errorf("status %d, %d bytes", resp.StatusCode, n)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
