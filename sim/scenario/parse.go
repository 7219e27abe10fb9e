package scenario

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest scenario file Load reads: room for about
// 150,000 hand-written or generated hosts (a host group needs one entry
// whatever its count).
const MaxFileSize = 32 << 20

// Load reads and validates the scenario file at path.
func Load(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open scenario: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read scenario %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("file larger than %d bytes", MaxFileSize)}}
	}
	return Parse(path, data)
}

// yamlLine matches the line number in go-yaml's syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse decodes and validates a scenario; file names it in messages. The
// error, if any, is an Errors value with one line per problem.
func Parse(file string, data []byte) (*Scenario, error) {
	d := &decoder{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.syntax(err)
		return nil, d.errs
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.errs = append(d.errs, &FieldError{File: file, Msg: "empty scenario"})
		return nil, d.errs
	}
	if !d.noAliases(doc.Content[0], 0) {
		return nil, d.errs
	}
	s := d.scenario(doc.Content[0])
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b *FieldError) int { return a.Line - b.Line })
		if len(d.errs) > maxErrors {
			d.errs = d.errs[:maxErrors]
		}
		return nil, d.errs
	}
	s.File = file
	s.Warnings = d.warns
	return s, nil
}

// decoder collects the problems of one file.
type decoder struct {
	file  string
	errs  Errors
	warns []string
	// captureObj is the decoded capture block, for later checks.
	captureObj *object
}

func (d *decoder) fail(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// failErr records err, a parser's error, as the problem of field.
func (d *decoder) failErr(n *yaml.Node, field string, err error) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Field: field, Msg: err.Error(), Err: err})
}

func (d *decoder) syntax(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	// A type error lists several lines; report the first.
	msg, _, _ = strings.Cut(msg, "\n")
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Msg: "invalid YAML: " + msg})
}

// noAliases rejects anchors and aliases: they let a small file expand into
// a huge tree.
func (d *decoder) noAliases(n *yaml.Node, depth int) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.fail(n, "", "YAML anchors and aliases are not supported")
		return false
	}
	if depth > 64 {
		d.fail(n, "", "nesting deeper than 64 levels")
		return false
	}
	for _, c := range n.Content {
		if !d.noAliases(c, depth+1) {
			return false
		}
	}
	return true
}

// object is a decoded mapping with its fields checked against a list.
type object struct {
	path string
	node *yaml.Node
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// object checks that n is a mapping whose keys are all in known.
func (d *decoder) object(n *yaml.Node, path string, known ...string) *object {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return nil
	}
	o := &object{path: path, node: n, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "mapping keys must be plain names")
			continue
		}
		f := join(path, k.Value)
		if !slices.Contains(known, k.Value) {
			d.fail(k, f, "unknown field (want one of %s)", strings.Join(known, ", "))
			continue
		}
		if _, dup := o.vals[k.Value]; dup {
			d.fail(k, f, "duplicate field")
			continue
		}
		o.keys[k.Value] = k
		o.vals[k.Value] = v
	}
	return o
}

// get returns the value of field name, or nil when absent or null.
func (o *object) get(name string) *yaml.Node {
	v := o.vals[name]
	if v == nil || isNull(v) {
		return nil
	}
	return v
}

func (o *object) field(name string) string { return join(o.path, name) }

// require returns field name or reports it missing.
func (d *decoder) require(o *object, name string) *yaml.Node {
	v := o.get(name)
	if v == nil {
		d.fail(o.node, o.field(name), "required field is missing")
	}
	return v
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return strconv.Quote(n.Value)
	default:
		return "an alias"
	}
}

// list returns the items of a sequence (nil for an absent field).
func (d *decoder) list(n *yaml.Node, path string) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "want a list, got %s", describe(n))
		return nil
	}
	return n.Content
}

// scalar returns n's text if n is a scalar.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want a value, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// nameRE is what names of hosts, interfaces, switches, links and apps may
// contain: they become parts of file names and capture interface names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

func (d *decoder) name(n *yaml.Node, path string) (string, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return "", false
	}
	if !nameRE.MatchString(s) || strings.Contains(s, "..") {
		d.fail(n, path, "invalid name %q (want 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit)", s)
		return "", false
	}
	return s, true
}
