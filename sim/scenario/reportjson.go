package scenario

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// WriteJSON writes r to w as indented JSON: the bytes of
// json.MarshalIndent(r, "", "  ") and a newline. The lists of the report
// (hosts, links, apps, flows, ...) are encoded one element at a time, so
// that the report of a 10,000-host run (about 50 MB of JSON) is never
// held whole in memory, nor its compact and indented copies.
func (r *Report) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := writeObject(bw, reflect.ValueOf(r).Elem()); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// writeObject writes the struct v as json.MarshalIndent does at the top
// level, each field encoded by encoding/json and each element of a slice
// field on its own. It handles the fields Report has: exported, not
// embedded, tagged with a name and at most omitempty.
func writeObject(w *bufio.Writer, v reflect.Value) error {
	t := v.Type()
	n := 0
	w.WriteByte('{')
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" && opts == "" {
			continue
		}
		if f.Anonymous || (opts != "" && opts != "omitempty") {
			return fmt.Errorf("field %s: tag %q not supported", f.Name, f.Tag.Get("json"))
		}
		if name == "" {
			name = f.Name
		}
		fv := v.Field(i)
		if opts == "omitempty" && emptyValue(fv) {
			continue
		}
		if n > 0 {
			w.WriteByte(',')
		}
		n++
		key, err := json.Marshal(name)
		if err != nil {
			return err
		}
		w.WriteString("\n  ")
		w.Write(key)
		w.WriteString(": ")
		if err := writeField(w, fv); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if n > 0 {
		w.WriteByte('\n')
	}
	w.WriteString("}\n")
	return nil
}

// writeField writes the field v one level deep: a non-empty slice one
// element at a time, anything else whole.
func writeField(w *bufio.Writer, v reflect.Value) error {
	if v.Kind() != reflect.Slice || v.Len() == 0 {
		b, err := json.MarshalIndent(v.Addr().Interface(), "  ", "  ")
		if err != nil {
			return err
		}
		w.Write(b)
		return nil
	}
	w.WriteByte('[')
	for k := range v.Len() {
		if k > 0 {
			w.WriteByte(',')
		}
		// The element's address, as encoding/json reaches the elements
		// of an addressable slice (pointer-receiver MarshalJSON methods
		// apply).
		b, err := json.MarshalIndent(v.Index(k).Addr().Interface(), "    ", "  ")
		if err != nil {
			return err
		}
		w.WriteString("\n    ")
		w.Write(b)
	}
	w.WriteString("\n  ]")
	return nil
}

// emptyValue reports whether omitempty leaves v out, by encoding/json's
// rule: false, 0, a nil pointer or interface, an empty array, slice, map
// or string.
func emptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
