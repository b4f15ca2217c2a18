package judge

import (
	"sync"

	"github.com/opendht-go/opendht/impl/rmw"
)

// Variants are designs of CASPaxos with one mistake each (see
// rmw.CASPaxosOptions): negative controls of the judge besides naive, and
// examples of what it catches. RegisterVariants makes them available by
// name (rmwjudge -variants); nodes never run them.
var Variants = []string{"caspaxos-minority-quorum", "caspaxos-no-expiry-writeback", "caspaxos-no-read-writeback"}

var registerOnce sync.Once

// RegisterVariants registers Variants with impl/rmw (once).
func RegisterVariants() {
	registerOnce.Do(registerVariants)
}

func registerVariants() {
	rmw.Register("caspaxos-minority-quorum", func(h rmw.Host) rmw.Protocol {
		return rmw.NewCASPaxos(h, rmw.CASPaxosOptions{Quorum: 2})
	})
	rmw.Register("caspaxos-no-expiry-writeback", func(h rmw.Host) rmw.Protocol {
		return rmw.NewCASPaxos(h, rmw.CASPaxosOptions{NoExpiryWriteBack: true})
	})
	rmw.Register("caspaxos-no-read-writeback", func(h rmw.Host) rmw.Protocol {
		return rmw.NewCASPaxos(h, rmw.CASPaxosOptions{NoReadWriteBack: true})
	})
}
