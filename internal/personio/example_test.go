package personio_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/personio/personiotest"
)

func ExampleClient_ListPersons() {
	sim, err := personiotest.New(personiotest.Options{Persons: 120, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	defer sim.Close()

	c, err := personio.New(personio.Config{
		BaseURL:      sim.URL(),
		ClientID:     personiotest.DefaultClientID,
		ClientSecret: personiotest.DefaultClientSecret,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	persons := 0
	err = c.ListPersons(ctx, personio.PersonFilter{}, func(page []personio.Person) error {
		persons += len(page)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("persons:", persons, "pages:", c.Stats().Pages)
	// Output: persons: 120 pages: 3
}

func ExampleMonthWindows() {
	from := time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	for _, w := range personio.MonthWindows(from, to) {
		fmt.Println(w)
	}
	// Output:
	// 2026-01-20..2026-01-31
	// 2026-02-01..2026-02-28
	// 2026-03-01..2026-03-05
}
