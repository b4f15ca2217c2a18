//go:build !variants

package store

// mutationsBuilt reports whether this build can plant mutations.
const mutationsBuilt = false

// mut is the store's planted mutation: none, in this build. It inlines to
// a constant, so every check compiles away.
func (s *Store) mut() mutation { return noMutation }

// plantMutation gives s a mutation; this build has none, and only
// noMutation is accepted.
func plantMutation(s *Store, m mutation) {
	if m != noMutation {
		panic("store: mutations need a build with -tags variants")
	}
}

// Plant gives s a named mutation; this build has none: only "" (none) is
// accepted.
func Plant(s *Store, name string) error {
	if name != "" {
		return ErrNoMutations
	}
	return nil
}
