package change

// ContentHash returns the content hash of a record: the sha256 of its Avro encoding
// (AppendRecord) without the volatile fields (diff:"volatile": updated_at of a person, of its
// employments and of an employment record) and without the byte sizes of array blocks. Two
// records with the same content hash are the same for payroll: they would be published as
// the same bytes but for updated_at, so a change of updated_at alone is no change. Decimals
// count by value (1.5 and 1.50 encode alike) and instants to the millisecond, as the topic
// carries them.
//
// The hash is never persisted: it is recomputed by this code from the records in the topic,
// and event ids derive from it, so it must not change for the same record from one version
// to the next (TestEncodingMatchesRecordedHistory holds it to recorded values).
// TestContentHashCoversEveryField fails when a field of the records does not reach it.
func ContentHash(r Record) (Hash, error) {
	_, h, err := AppendRecordHash(nil, r)
	return h, err
}
