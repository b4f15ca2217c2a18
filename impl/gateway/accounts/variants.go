package accounts

import (
	"errors"

	"github.com/opendht-go/opendht/impl/plant"
)

// Variant holds the planted mistakes that the end-to-end accounts check
// must catch (its negative controls). The zero Variant is the correct
// gateway. As in impl/node, variants exist only in builds with the build
// tag "variants"; elsewhere Plant fails and the code asks a constant.
type Variant struct {
	// NoIdentity charges an account's writes to the client's IP address
	// instead of the account's identity: no replica sees the quota
	// (breaks AC-4, and so AC-5 and the usage report).
	NoIdentity bool
}

// ErrNoVariants: this build has no planted variants.
var ErrNoVariants = errors.New("accounts: planted variants need a build with -tags variants")

// planted holds the variant planted in every gateway of the process, under
// the one key everyGateway (impl/plant).
var planted plant.Table[struct{}, Variant]

var everyGateway struct{}

// bug is the planted variant: a constant zero Variant without the
// variants tag.
func bug() Variant { return planted.Of(everyGateway) }

// Plant plants v in every gateway of the process (the zero Variant
// removes it). A build without the variants tag has none: it returns
// ErrNoVariants.
func Plant(v Variant) error {
	if !planted.Plant(everyGateway, v) {
		return ErrNoVariants
	}
	return nil
}
