package personiotest_test

import (
	"fmt"
	"log"
	"net/http"
	"net/url"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

func ExampleNew() {
	srv, err := personiotest.New(personiotest.Options{
		Persons: 50,
		Seed:    7,
		Now:     func() time.Time { return time.Date(2026, 3, 18, 9, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	resp, err := http.PostForm(srv.URL()+"/v2/auth/token", url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {personiotest.DefaultClientID},
		"client_secret": {personiotest.DefaultClientSecret},
	})
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("token:", resp.StatusCode)

	res := srv.Churn(personiotest.Churn{Hires: 2, Deletions: 1})
	fmt.Println("hired:", len(res.Hires), "deleted:", len(res.Deletions), "persons:", len(srv.Truth().Persons))
	// Output:
	// token: 200
	// hired: 2 deleted: 1 persons: 51
}
