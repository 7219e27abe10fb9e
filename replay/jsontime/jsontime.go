// Package jsontime encodes capture timestamps in JSON for every year a
// capture can hold.
//
// time.Time's MarshalJSON refuses years outside [0,9999] (RFC 3339 has
// four-digit years), but a pcapng timestamp is a 64-bit count that reaches
// far beyond, and tshark reads such files. Time writes RFC 3339 with
// nanoseconds, with as many year digits as needed (as tshark prints them),
// so that a hostile or odd timestamp never stops a report from being
// written.
package jsontime

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Time is a time.Time whose JSON form is RFC 3339 with nanoseconds, the
// year written with more than four digits (or a minus sign) when needed.
type Time struct{ time.Time }

// Of returns t as a Time.
func Of(t time.Time) Time { return Time{t} }

// refYear is the year substituted for an out-of-range one while the rest of
// the timestamp is formatted or parsed by the time package.
const refYear = 2000

// String returns the RFC 3339 form with nanoseconds.
func (t Time) String() string {
	y := t.Year()
	if y >= 0 && y <= 9999 {
		return t.Format(time.RFC3339Nano)
	}
	// Shift to a four-digit year by whole 400-year Gregorian cycles, so
	// month, day and weekday stay the same, then put the year back.
	shift := (y - refYear) / 400 * 400
	s := t.AddDate(-shift, 0, 0).Format(time.RFC3339Nano)
	return strconv.Itoa(y) + s[strings.IndexByte(s[1:], '-')+1:]
}

// MarshalJSON writes the String form as a JSON string.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(t.String())), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *Time) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("jsontime: not a JSON string: %s", b)
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Parse reads the String form.
func Parse(s string) (Time, error) {
	i := strings.IndexByte(s[min(1, len(s)):], '-') + 1
	if i <= 0 {
		return Time{}, fmt.Errorf("jsontime: %q: no year", s)
	}
	y, err := strconv.Atoi(s[:i])
	if err != nil {
		return Time{}, fmt.Errorf("jsontime: %q: bad year", s)
	}
	if y >= 0 && y <= 9999 && i == 4 {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Time{}, fmt.Errorf("jsontime: %w", err)
		}
		return Time{v}, nil
	}
	shift := (y - refYear) / 400 * 400
	v, err := time.Parse(time.RFC3339Nano, fmt.Sprintf("%04d", y-shift)+s[i:])
	if err != nil {
		return Time{}, fmt.Errorf("jsontime: %w", err)
	}
	return Time{v.AddDate(shift, 0, 0)}, nil
}
