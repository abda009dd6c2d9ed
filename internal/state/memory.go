package state

import (
	"sync"

	"github.com/personio-cdc/personio-cdc/pipeline/change"
)

// Memory is the in-memory Store: one map per entity behind a read-write mutex.
type Memory struct {
	mu      sync.RWMutex
	live    map[change.Entity]map[string]Entry
	deleted map[change.Entity]map[string]int64
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{
		live:    make(map[change.Entity]map[string]Entry),
		deleted: make(map[change.Entity]map[string]int64),
	}
}

// Get implements Store.
func (m *Memory) Get(entity change.Entity, key string) (Entry, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.live[entity][key]
	return e, ok
}

// Put implements Store.
func (m *Memory) Put(entity change.Entity, key string, e Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lm := m.live[entity]
	if lm == nil {
		lm = make(map[string]Entry)
		m.live[entity] = lm
	}
	lm[key] = e
	delete(m.deleted[entity], key)
}

// Delete implements Store.
func (m *Memory) Delete(entity change.Entity, key string, version int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.live[entity][key]; ok && e.Version > version {
		version = e.Version
	}
	delete(m.live[entity], key)
	if version <= 0 {
		if m.deleted[entity][key] > 0 {
			return // a tombstone after its delete event: keep the version the event gave
		}
		delete(m.deleted[entity], key)
		return
	}
	dm := m.deleted[entity]
	if dm == nil {
		dm = make(map[string]int64)
		m.deleted[entity] = dm
	}
	dm[key] = version
}

// LastVersion implements Store.
func (m *Memory) LastVersion(entity change.Entity, key string) int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e, ok := m.live[entity][key]; ok {
		return e.Version
	}
	return m.deleted[entity][key]
}

// Len implements Store.
func (m *Memory) Len(entity change.Entity) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.live[entity])
}

// Range implements Store. It holds the read lock while fn runs.
func (m *Memory) Range(entity change.Entity, fn func(key string, e Entry) bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for k, e := range m.live[entity] {
		if !fn(k, e) {
			return
		}
	}
}
