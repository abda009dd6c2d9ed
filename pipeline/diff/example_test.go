package diff_test

import (
	"fmt"
	"time"

	"github.com/personio-cdc/personio-cdc/internal/personio"
	"github.com/personio-cdc/personio-cdc/internal/state"
	"github.com/personio-cdc/personio-cdc/pipeline/change"
	"github.com/personio-cdc/personio-cdc/pipeline/diff"
)

func Example() {
	d, err := diff.New(diff.WithDeleteGuard(0.2, 10))
	if err != nil {
		panic(err)
	}
	st := state.NewMemory()
	src := change.Source{Tenant: "acme", SyncID: "sync-1", SyncKind: string(change.Full), ExtractedAt: time.Now()}

	sync := func(people ...personio.Person) {
		run, err := d.Begin(st, change.Persons, src)
		if err != nil {
			panic(err)
		}
		for _, p := range people { // page by page in the service
			rec, err := change.NewPerson(p, nil)
			if err != nil {
				continue // skipped, counted, the listing is then incomplete
			}
			if err := run.Add(rec); err != nil {
				panic(err)
			}
		}
		res, err := run.Finish(diff.Scope{Complete: true})
		if err != nil {
			panic(err)
		}
		for _, ev := range res.Events {
			fmt.Println(ev.Op, ev.Key, ev.Version, ev.ChangedFields)
		}
		// Publish, then, once Kafka acknowledged:
		if err := state.Apply(st, res.Events); err != nil {
			panic(err)
		}
	}
	sync(personio.Person{ID: "1", Email: "Ada@Example.com"}, personio.Person{ID: "2"})
	sync(personio.Person{ID: "1", Email: "ada@example.com", UpdatedAt: "2026-11-27T10:00:00Z"}, personio.Person{ID: "2", FirstName: "Bob"})
	sync(personio.Person{ID: "2", FirstName: "Bob"})
	// Output:
	// c acme:1 1 []
	// c acme:2 1 []
	// u acme:2 2 [first_name]
	// d acme:1 2 []
}
