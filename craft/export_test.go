package craft

// Test vectors for the external test package.
var (
	SynV4    = synV4
	SynAckV6 = synAckV6
)
