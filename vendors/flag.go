package vendors

import "strings"

// ListValue collects --vendor values; it satisfies pflag.Value (Set,
// String, Type) without this package importing pflag. The names are
// checked in one place, ParseForArch (the table lookup), once the
// command knows the architecture.
type ListValue []string

// Set implements pflag.Value: a comma-separated list, appended. An empty
// value (--vendor "") asks for no vendor and adds nothing.
func (l *ListValue) Set(s string) error {
	if strings.Trim(s, ", \t") == "" {
		return nil
	}
	*l = append(*l, s)
	return nil
}

// String implements pflag.Value.
func (l *ListValue) String() string { return strings.Join(*l, ",") }

// Type implements pflag.Value.
func (l *ListValue) Type() string { return "vendor" }

// CompressValue is the --compress flag value (pflag.Value), validated on
// Set.
type CompressValue string

// Set implements pflag.Value.
func (c *CompressValue) Set(s string) error {
	if _, err := ParseCompressions(s); err != nil {
		return err
	}
	*c = CompressValue(s)
	return nil
}

// String implements pflag.Value.
func (c *CompressValue) String() string { return string(*c) }

// Type implements pflag.Value.
func (c *CompressValue) Type() string { return "list" }

// CompressHelp is the --compress flag's help text.
func CompressHelp() string {
	return "compressed copies of the vendor disks: " + strings.Join(Compressions(), ", ") +
		" (comma-separated; release: each vendor's; default: none, the disk only)"
}
