package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
	"github.com/personio-cdc/personio-cdc/pipeline/extract"
)

// sequentialSync is the baseline: the plain client loop of Personio's API guide. It fetches a
// token, then lists every persons page and every compensations page of each window, one
// request after another, following the next links, and waits and retries on 429 (Retry-After,
// else one second). It returns how many items it read.
func sequentialSync(ctx context.Context, baseURL string, pageSize int, windows []personio.Window) (int, error) {
	hc := &http.Client{Timeout: time.Minute}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {personiotest.DefaultClientID},
		"client_secret": {personiotest.DefaultClientSecret}}
	resp, err := hc.PostForm(baseURL+"/v2/auth/token", form)
	if err != nil {
		return 0, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.AccessToken == "" {
		return 0, fmt.Errorf("token: status %d: %v", resp.StatusCode, err)
	}

	items := 0
	firsts := []string{baseURL + "/v2/persons?limit=" + strconv.Itoa(pageSize)}
	// Personio stops a request for a big company's whole month (422
	// compensations.unprocessable_content): ask for about a week at a time.
	for _, w := range windows {
		for _, sw := range extract.SubWindows(w, 4) {
			firsts = append(firsts, baseURL+"/v2/compensations?limit=100&start_date="+sw.Start.Format(time.DateOnly)+"&end_date="+sw.End.Format(time.DateOnly))
		}
	}
	for _, first := range firsts {
		next := first
		for next != "" {
			var page struct {
				Data []json.RawMessage `json:"_data"`
				Meta struct {
					Links map[string]struct {
						Href string `json:"href"`
					} `json:"links"`
				} `json:"_meta"`
			}
			if err := getJSON(ctx, hc, next, tok.AccessToken, &page); err != nil {
				return items, err
			}
			items += len(page.Data)
			next = page.Meta.Links["next"].Href
		}
	}
	return items, nil
}

func getJSON(ctx context.Context, hc *http.Client, u, token string, into any) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			wait := time.Second
			if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
		}
		return json.NewDecoder(resp.Body).Decode(into)
	}
}
