// Package cliflag holds what simnet's commands share on their command
// lines: a seed flag whose errors speak the user's language, and a cleaner
// for the flag errors of the flag package, so that no strconv internals
// reach the user.
package cliflag

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// SeedRange describes the values a seed takes, in error messages; the
// scenario loader says the same.
const SeedRange = "an integer from 0 to 18446744073709551615"

// Seed is a pflag.Value for a run's seed (a uint64).
type Seed uint64

// String returns the seed in decimal.
func (s *Seed) String() string { return strconv.FormatUint(uint64(*s), 10) }

// Set parses a decimal seed.
func (s *Seed) Set(v string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return fmt.Errorf("want %s", SeedRange)
	}
	*s = Seed(n)
	return nil
}

// Type names the value in the help text.
func (s *Seed) Type() string { return "uint64" }

// strconvErr matches what strconv's errors add to a flag error.
var strconvErr = regexp.MustCompile(`strconv\.Parse\w+: parsing "(?:[^"\\]|\\.)*": (invalid syntax|value out of range)`)

// CleanError rewrites a flag parsing error without strconv's wording: a
// number that does not parse becomes "not a number" (or "out of range").
// Use it as a cobra flag error function.
func CleanError(err error) error {
	if err == nil {
		return nil
	}
	msg := strconvErr.ReplaceAllStringFunc(err.Error(), func(m string) string {
		if strings.HasSuffix(m, "value out of range") {
			return "out of range"
		}
		return "not a number"
	})
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// SeedVar defines a seed flag on fs with the given default.
func SeedVar(fs *pflag.FlagSet, p *uint64, name string, def uint64, usage string) {
	*p = def
	fs.Var((*Seed)(p), name, usage)
}
