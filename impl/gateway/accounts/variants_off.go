//go:build !variants

package accounts

// bug is the planted variant: none in this build.
func bug() Variant { return Variant{} }

// Plant plants v in every gateway of the process. This build has none: it
// returns ErrNoVariants.
func Plant(v Variant) error { return ErrNoVariants }
