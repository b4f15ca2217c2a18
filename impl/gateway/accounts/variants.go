package accounts

import "errors"

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
