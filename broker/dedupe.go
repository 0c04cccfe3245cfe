package broker

// Requests that name a partition more than once. Kafka reads Produce and
// Fetch requests into maps keyed by partition, so a partition named twice
// is appended (or read) once, with the last entry's data, and answered
// once; Gregor appended every copy, or returned the same records once per
// copy up to fetch.max.bytes.

// dedupeTopics merges the entries of topics that name the same topic
// (topicKey), and within a topic those that name the same partition
// (partKey): the last entry for a partition wins, in the place of the
// first. It changes nothing, and allocates nothing, when no key repeats.
func dedupeTopics[T, P any, K comparable](topics []T, topicKey func(*T) K, parts func(*T) *[]P, partKey func(*P) int32) []T {
	if !hasRepeats(topics, topicKey, parts, partKey) {
		return topics
	}
	at := make(map[K]int, len(topics))
	out := topics[:0]
	for i := range topics {
		k := topicKey(&topics[i])
		if j, ok := at[k]; ok {
			merged := parts(&out[j])
			*merged = append((*merged)[:len(*merged):len(*merged)], *parts(&topics[i])...)
			continue
		}
		at[k] = len(out)
		out = append(out, topics[i])
	}
	for j := range out {
		ps := parts(&out[j])
		pat := make(map[int32]int, len(*ps))
		kept := make([]P, 0, len(*ps))
		for _, p := range *ps {
			k := partKey(&p)
			if i, ok := pat[k]; ok {
				kept[i] = p
				continue
			}
			pat[k] = len(kept)
			kept = append(kept, p)
		}
		*ps = kept
	}
	return out
}

// hasRepeats reports whether a topic, or a partition within a topic,
// repeats: pairwise for a few (no allocation), through a set otherwise.
func hasRepeats[T, P any, K comparable](topics []T, topicKey func(*T) K, parts func(*T) *[]P, partKey func(*P) int32) bool {
	if n := len(topics); n > 16 {
		seen := make(map[K]struct{}, n)
		for i := range topics {
			k := topicKey(&topics[i])
			if _, ok := seen[k]; ok {
				return true
			}
			seen[k] = struct{}{}
		}
	} else {
		for i := 1; i < n; i++ {
			ki := topicKey(&topics[i])
			for j := range i {
				if topicKey(&topics[j]) == ki {
					return true
				}
			}
		}
	}
	for i := range topics {
		ps := *parts(&topics[i])
		if n := len(ps); n > 16 {
			seen := make(map[int32]struct{}, n)
			for j := range ps {
				k := partKey(&ps[j])
				if _, ok := seen[k]; ok {
					return true
				}
				seen[k] = struct{}{}
			}
		} else {
			for a := 1; a < n; a++ {
				ka := partKey(&ps[a])
				for b := range a {
					if partKey(&ps[b]) == ka {
						return true
					}
				}
			}
		}
	}
	return false
}

// topicRef is a topic as a request names it: by name, or by id.
type topicRef struct {
	name string
	id   [16]byte
}
