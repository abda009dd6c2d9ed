package refresh

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TopicSuffix is appended to the topic prefix to name the compacted topic of verification
// records: "<prefix>.employments.verified".
const TopicSuffix = ".employments.verified"

// Topic returns the topic of the verification records under prefix.
func Topic(prefix string) string { return prefix + TopicSuffix }

// Verification is the value of a verification record: a person's employment listing
// completed at VerifiedAt, when the person's updated_at was UpdatedAt. No personal data: the
// person id is in the key only.
type Verification struct {
	VerifiedAt time.Time `json:"verified_at"`
	UpdatedAt  time.Time `json:"person_updated_at,omitzero"`
}

// Record is one verification of one person.
type Record struct {
	PersonID string
	Verification
}

// Key returns the record key of a person: "<tenant>:<person id>".
func Key(tenant, personID string) string { return tenant + ":" + personID }

// ParseKey returns the person id of a record key of tenant; ok is false for another tenant's
// key or one without an id.
func ParseKey(tenant, key string) (personID string, ok bool) {
	id, ok := strings.CutPrefix(key, tenant+":")
	return id, ok && id != ""
}

// Encode returns the record's value.
func (v Verification) Encode() ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("refresh: encode verification: %w", err)
	}
	return b, nil
}

// Decode reads a record value written by Encode.
func Decode(value []byte) (Verification, error) {
	var v Verification
	if err := json.Unmarshal(value, &v); err != nil {
		return Verification{}, fmt.Errorf("%w: %w", ErrRecord, err)
	}
	if v.VerifiedAt.IsZero() {
		return Verification{}, fmt.Errorf("%w: no verified_at", ErrRecord)
	}
	return v, nil
}
