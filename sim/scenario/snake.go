package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"github.com/simnet-go/simnet/proto/clock"
)

// snakeStruct writes a struct of counters as a JSON object whose keys are
// the snake_case forms of its Go field names (FramesIn: frames_in,
// ARPRequestsIn: arp_requests_in), or the field's json tag when it has one,
// in field order. It keeps report.json in one naming style for structs
// written without tags (stack.Stats), including fields added later.
type snakeStruct struct{ v any }

// MarshalJSON writes the object.
func (s snakeStruct) MarshalJSON() ([]byte, error) {
	rv := reflect.ValueOf(s.v)
	if rv.Kind() != reflect.Struct {
		return json.Marshal(s.v)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name := snakeCase(f.Name)
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == "-" {
			continue
		} else if tag != "" {
			name = tag
		}
		v, err := json.Marshal(rv.Field(i).Interface())
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// snakeCase turns a Go identifier into snake_case, keeping initialisms
// together: IPBadChecksum is ip_bad_checksum, DropNotOurMAC
// drop_not_our_mac, ICMPv6In icmpv6_in.
func snakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prev := r[i-1]
			// A lower-case letter after an initialism starts a word,
			// except the "v" of a version (ICMPv6, IPv4).
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1]) &&
				!(r[i+1] == 'v' && i+2 < len(r) && unicode.IsDigit(r[i+2]))
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// MarshalJSON writes the host's report with its IP counters in snake_case.
func (h HostReport) MarshalJSON() ([]byte, error) {
	type plain HostReport
	return json.Marshal(struct {
		plain
		IP snakeStruct `json:"ip"`
	}{plain(h), snakeStruct{h.IP}})
}

// clockTimeType is the type of the instants apps put in their results.
var clockTimeType = reflect.TypeFor[clock.Time]()

// rebaseInstants returns a copy of an app result in which every clock.Time
// (an instant on the world's clock, such as start_ns and end_ns) counts
// from t0, the start of the run, as report.json's times do. Zero instants
// (not reached) stay zero. The app's own state is not touched: slices and
// pointers on the way are copied.
func rebaseInstants(v any, t0 clock.Time) any {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	c := reflect.New(rv.Type()).Elem()
	c.Set(rv)
	rebaseValue(c, t0)
	return c.Interface()
}

func rebaseValue(v reflect.Value, t0 clock.Time) {
	if v.Type() == clockTimeType {
		if v.Int() != 0 {
			v.SetInt(v.Int() - int64(t0))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				rebaseValue(f, t0)
			}
		}
	case reflect.Slice:
		if v.IsNil() || !holdsInstants(v.Type().Elem(), 0) {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := range c.Len() {
			rebaseValue(c.Index(i), t0)
		}
		v.Set(c)
	case reflect.Pointer:
		if v.IsNil() || !holdsInstants(v.Type().Elem(), 0) {
			return
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(v.Elem())
		rebaseValue(c.Elem(), t0)
		v.Set(c)
	}
}

// holdsInstants reports whether values of type t can hold a clock.Time in
// an exported field, slice element or pointee.
func holdsInstants(t reflect.Type, depth int) bool {
	if t == clockTimeType {
		return true
	}
	if depth > 8 {
		return false
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && holdsInstants(f.Type, depth+1) {
				return true
			}
		}
	case reflect.Slice, reflect.Pointer, reflect.Array:
		return holdsInstants(t.Elem(), depth+1)
	}
	return false
}
