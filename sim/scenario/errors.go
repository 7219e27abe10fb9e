package scenario

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a scenario file.
type FieldError struct {
	File string
	// Line is the 1-based line of the offending node (0 when unknown).
	Line int
	// Field is the path of the field, e.g. "hosts[2].interfaces[0].address",
	// or "" for a problem with the document itself.
	Field string
	Msg   string
	// Err is the parser's error Msg renders, when one was the cause.
	Err error
}

// Unwrap returns the parser's error behind e, if any.
func (e *FieldError) Unwrap() error { return e.Err }

// Error renders e as one line: FILE:LINE: field "PATH": MESSAGE.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a scenario file, in file order.
type Errors []*FieldError

// Error renders one line per problem.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// maxErrors bounds how many problems one file reports.
const maxErrors = 50
