package personio

import "context"

type priorityKey struct{}

// WithPriority marks the requests made with ctx as urgent: they take the credential's budget
// ahead of ordinary requests waiting for it (the webhook trigger's targeted fetches ahead of
// the scheduled syncs). The budget itself is unchanged.
func WithPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, priorityKey{}, true)
}

func isPriority(ctx context.Context) bool {
	v, _ := ctx.Value(priorityKey{}).(bool)
	return v
}
