package bake

// CheckMasks checks the --mask names against each other and the sysexts
// (valid names, no NAME twice) before any work, so that a caller can
// report a clash as a usage error.
func CheckMasks(masks []string, sysexts []Sysext) error { return checkMasks(masks, sysexts) }
