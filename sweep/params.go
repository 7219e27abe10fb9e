// Package sweep runs one scenario over a grid of seeds and parameter values,
// in parallel and, with shards, across machines, and summarises the runs.
//
// A parameter is a path into the scenario file: dot-separated keys, where a
// list is entered by the `name` of one of its elements (or by its index):
// `links.wan.impair.loss` is the `loss` key of the `impair` block of the
// link named wan, `apps.up.cc` the `cc` key of the app named up. Setting a
// value rewrites the YAML before it is decoded, so every value is checked by
// the scenario decoder exactly as if it had been written in the file.
//
// Runs are numbered in a fixed order (grid points in the order of the --set
// flags, the last one varying fastest; seeds within a point), so a shard
// (I of N takes the runs whose number is I-1 modulo N) and a merge of shards
// produce the same summary as one unsharded sweep.
package sweep

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/simnet-go/simnet/sim/scenario"
)

// Set is one --set flag: a path and the values it takes.
type Set struct {
	Path   string   `json:"path"`
	Values []string `json:"values"`
}

// Assignment gives one path one value.
type Assignment struct {
	Path  string `json:"path"`
	Value string `json:"value"`
}

// String renders a as PATH=VALUE.
func (a Assignment) String() string { return a.Path + "=" + a.Value }

// ParseSet parses "PATH=V1,V2,...".
func ParseSet(s string) (Set, error) {
	path, vals, ok := strings.Cut(s, "=")
	if !ok || path == "" || vals == "" {
		return Set{}, fmt.Errorf("--set %q: want PATH=V1,V2 (one or more values)", s)
	}
	for _, k := range strings.Split(path, ".") {
		if k == "" {
			return Set{}, fmt.Errorf("--set %q: empty key in path %q", s, path)
		}
	}
	set := Set{Path: path}
	for _, v := range strings.Split(vals, ",") {
		if v = strings.TrimSpace(v); v == "" {
			return Set{}, fmt.Errorf("--set %q: empty value", s)
		}
		set.Values = append(set.Values, v)
	}
	return set, nil
}

// ParseAssignment parses "PATH=VALUE", the single-valued form `simnet run
// --set` takes.
func ParseAssignment(s string) (Assignment, error) {
	set, err := ParseSet(s)
	if err != nil {
		return Assignment{}, err
	}
	if len(set.Values) != 1 {
		return Assignment{}, fmt.Errorf("--set %q: one value expected here", s)
	}
	return Assignment{Path: set.Path, Value: set.Values[0]}, nil
}

// Grid returns every combination of the sets' values: the first set varies
// slowest. With no sets it returns one empty point.
func Grid(sets []Set) [][]Assignment {
	points := [][]Assignment{nil}
	for _, s := range sets {
		var next [][]Assignment
		for _, p := range points {
			for _, v := range s.Values {
				q := append(append([]Assignment(nil), p...), Assignment{Path: s.Path, Value: v})
				next = append(next, q)
			}
		}
		points = next
	}
	return points
}

// maxSeeds bounds a seed range, so a typo cannot queue billions of runs.
const maxSeeds = 1 << 20

// ParseSeeds parses "A-B" (inclusive), "N", or a comma-separated list of
// either.
func ParseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--seeds %q: %q is not a seed (want A-B, N or a list)", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil {
				return nil, fmt.Errorf("--seeds %q: %q is not a seed (want A-B, N or a list)", s, hi)
			}
			if b < a {
				return nil, fmt.Errorf("--seeds %q: range ends before it starts", s)
			}
		}
		if b-a >= maxSeeds || len(out)+int(b-a) >= maxSeeds {
			return nil, fmt.Errorf("--seeds %q: more than %d seeds", s, maxSeeds)
		}
		for v := a; ; v++ {
			out = append(out, v)
			if v == b {
				break
			}
		}
	}
	return out, nil
}

// Load reads the scenario file at path, applies the assignments and
// decodes it. Errors name the file and the path that failed.
func Load(path string, assigns []Assignment) (*scenario.Scenario, error) {
	if len(assigns) == 0 {
		return scenario.Load(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("open scenario: %w", err)
	}
	if len(data) > scenario.MaxFileSize {
		return nil, fmt.Errorf("%s: file larger than %d bytes", path, scenario.MaxFileSize)
	}
	out, err := Apply(data, assigns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return scenario.Parse(path, out)
}

// Apply sets each assignment in the YAML document data and returns the
// document re-encoded.
func Apply(data []byte, assigns []Assignment) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty scenario")
	}
	for _, a := range assigns {
		if err := setPath(doc.Content[0], strings.Split(a.Path, "."), a.Value); err != nil {
			return nil, fmt.Errorf("--set %s: %w", a, err)
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return out, nil
}

// setPath walks n along keys and sets the last one to value, creating
// missing mapping keys on the way (an `impair` block a link did not have).
func setPath(n *yaml.Node, keys []string, value string) error {
	for i, k := range keys {
		last := i == len(keys)-1
		switch n.Kind {
		case yaml.MappingNode:
			child := mapValue(n, k)
			if child == nil {
				child = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				if last {
					child = &yaml.Node{Kind: yaml.ScalarNode}
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, child)
			}
			n = child
		case yaml.SequenceNode:
			child := element(n, k)
			if child == nil {
				return fmt.Errorf("no element named %q at %s", k, strings.Join(keys[:i], "."))
			}
			n = child
		default:
			return fmt.Errorf("%s is a value, not a block", strings.Join(keys[:i], "."))
		}
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s is a block, not a value", strings.Join(keys, "."))
	}
	n.Value, n.Tag, n.Style = value, "", 0
	return nil
}

// mapValue returns the value node of key k in mapping n, or nil.
func mapValue(n *yaml.Node, k string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == k {
			return n.Content[i+1]
		}
	}
	return nil
}

// element returns the element of sequence n whose name is k, or the k-th
// element when k is an index and no element is named so.
func element(n *yaml.Node, k string) *yaml.Node {
	for _, e := range n.Content {
		if e.Kind == yaml.MappingNode {
			if v := mapValue(e, "name"); v != nil && v.Kind == yaml.ScalarNode && v.Value == k {
				return e
			}
		}
	}
	if i, err := strconv.Atoi(k); err == nil && i >= 0 && i < len(n.Content) {
		return n.Content[i]
	}
	return nil
}
