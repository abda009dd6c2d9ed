package main

import (
	"strings"
	"testing"
)

// TestEraseCommand erases a person through the command: their keys are gone from the topics,
// a later sync leaves them out while Personio still lists them, and --lift lets the next full
// sync publish them again. Bad arguments exit 2 naming the problem.
func TestEraseCommand(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	if code, out, errOut := invoke(ctx, w.env, "sync"); code != exitOK {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	person := w.sim.Truth().Persons[0].ID
	key := `"key":"` + testTenant + ":" + person + `"`
	livePersons := func() string {
		t.Helper()
		code, out, errOut := invoke(ctx, w.env, "replay", "--topic", "persons", "--output", "json")
		if code != exitOK {
			t.Fatalf("replay: exit %d\n%s", code, errOut)
		}
		return out
	}
	if !strings.Contains(livePersons(), key) {
		t.Fatalf("the person is not on the topic before the erasure")
	}

	code, out, errOut := invoke(ctx, w.env, "erase", "--person", person, "--by", "dpo", "--reason", "request 17")
	if code != exitOK || !strings.Contains(out, "tombstoned persons=1 ") {
		t.Fatalf("erase: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, person) {
		t.Errorf("erase printed the person id:\n%s\n%s", out, errOut)
	}
	if strings.Contains(livePersons(), key) {
		t.Fatal("the erased person is still on the persons topic")
	}
	for _, args := range [][]string{{"sync"}, {"sync", "--incremental"}, {"resnapshot"}} {
		if code, out, errOut := invoke(ctx, w.env, args...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
		}
		if strings.Contains(livePersons(), key) {
			t.Fatalf("%v published the erased person again", args)
		}
	}

	if code, out, errOut := invoke(ctx, w.env, "erase", "--lift", "--person", person); code != exitOK {
		t.Fatalf("erase --lift: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := invoke(ctx, w.env, "sync"); code != exitOK || !strings.Contains(out, "c=1") {
		t.Fatalf("sync after the lift: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(livePersons(), key) {
		t.Fatal("the lifted person was not published again")
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"erase"}, "person id must be"},
		{[]string{"erase", "--person", "1", "--tenant", "a:b"}, "tenant"},
		{[]string{"erase", "--lift", "--person", "1", "--reason", "x"}, "--by and --reason go with an erasure"},
	} {
		if code, _, errOut := invoke(ctx, w.env, c.args...); code != exitConfig || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", c.args, code, exitConfig, c.want, errOut)
		}
	}
}
