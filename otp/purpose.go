package otp

// Purpose is what a code is for. The values are the usage types of Logto's
// SMS connectors, so a Logto connector configuration maps onto them. A code
// verifies only for the purpose it was issued for.
type Purpose string

// Purposes. Their string values are fixed by Logto's usage types.
const (
	Register       Purpose = "Register"
	SignIn         Purpose = "SignIn"
	ForgotPassword Purpose = "ForgotPassword"
	Generic        Purpose = "Generic"
)

// Purposes returns the four purposes in a new slice.
func Purposes() []Purpose {
	return []Purpose{Register, SignIn, ForgotPassword, Generic}
}

// Valid reports whether p is one of the four purposes.
func (p Purpose) Valid() bool {
	switch p {
	case Register, SignIn, ForgotPassword, Generic:
		return true
	}
	return false
}
