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
	packs   map[change.Entity]*packing // the dictionary learnt for each entity
	compact sync.Mutex                 // one Compact at a time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{
		live:    make(map[change.Entity]map[string]Entry),
		deleted: make(map[change.Entity]map[string]int64),
		packs:   make(map[change.Entity]*packing),
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

// compactChunk is the number of entries Compact compresses between two takes of the lock.
const compactChunk = 4096

// Compact implements Store. It compresses outside the lock, chunk by chunk, and puts an
// entry back only if it is still the one it compressed; readers are held up only while a
// chunk is put back.
func (m *Memory) Compact(entity change.Entity) int {
	m.compact.Lock()
	defer m.compact.Unlock()
	var todo []keyed
	m.mu.RLock()
	for k, e := range m.live[entity] {
		if e.pack == nil && e.Data != nil {
			todo = append(todo, keyed{k, e})
		}
	}
	pack := m.packs[entity]
	m.mu.RUnlock()
	if len(todo) == 0 {
		return 0
	}
	if pack == nil {
		records := make([][]byte, 0, min(len(todo), 128))
		for _, it := range todo[:cap(records)] {
			records = append(records, it.e.Data)
		}
		if pack = learnPacking(records); pack != nil {
			m.mu.Lock()
			m.packs[entity] = pack
			m.mu.Unlock()
		} else {
			pack = plainPacking // too little to learn from yet
		}
	}
	done := 0
	packed := make([]keyed, 0, min(len(todo), compactChunk))
	for len(todo) > 0 {
		chunk := todo[:min(len(todo), compactChunk)]
		todo = todo[len(chunk):]
		packed = packed[:0]
		for _, it := range chunk {
			e := it.e
			e.Data, e.pack = pack.pack(e.Data), pack
			packed = append(packed, keyed{it.key, e})
		}
		done += m.putBack(entity, chunk, packed)
	}
	return done
}

// keyed is an entry with its key.
type keyed struct {
	key string
	e   Entry
}

// putBack replaces each entry of orig by the same position of packed, unless the key's entry
// changed since orig was read (a Put or Delete meanwhile), and returns how many it replaced.
func (m *Memory) putBack(entity change.Entity, orig, packed []keyed) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	lm, n := m.live[entity], 0
	for i, it := range orig {
		if cur, ok := lm[it.key]; ok && cur.pack == nil && cur.Version == it.e.Version && sameBytes(cur.Data, it.e.Data) {
			lm[it.key] = packed[i].e
			n++
		}
	}
	return n
}

// sameBytes reports whether a and b are the same slice of memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
