package tests

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/simnet-go/simnet/"

// forbiddenForProto are the packages protocol code must not depend on,
// directly or not (DESIGN.md: dependencies point down; no protocol package
// imports a driver).
var forbiddenForProto = []string{"sim", "replay", "app", "cmd", "loop", "link/tap", "link/pcap", "netconn", "tests"}

// TestLayeringImports proves with go list -deps that no proto/* package
// depends on a driver: sim, replay, app, cmd, loop or a link device.
func TestLayeringImports(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"proto/...").Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.NotEmpty(t, lines)
	checked := 0
	for _, line := range lines {
		f := strings.Fields(line)
		if !strings.HasPrefix(f[0], module+"proto/") {
			continue
		}
		checked++
		for _, dep := range f[1:] {
			if bad := forbiddenDep(dep); bad != "" {
				t.Errorf("%s depends on %s (%s/... is a driver or above it)", f[0], dep, bad)
			}
		}
	}
	assert.Greater(t, checked, 10, "the proto packages were listed")
	assert.Equal(t, "sim", forbiddenDep(module+"sim/scenario"), "the check can fail")
	assert.Empty(t, forbiddenDep(module+"link"), "the endpoint interface is allowed")
}

// forbiddenDep returns the forbidden tree that import path p is in, or "".
func forbiddenDep(p string) string {
	rel, ok := strings.CutPrefix(p, module)
	if !ok {
		return ""
	}
	for _, f := range forbiddenForProto {
		if rel == f || strings.HasPrefix(rel, f+"/") {
			return f
		}
	}
	return ""
}

// wallClock are the functions of package time that read or wait on the
// wall clock.
var wallClock = map[string]bool{"Now": true, "Sleep": true, "Since": true, "Until": true, "After": true,
	"AfterFunc": true, "Tick": true, "NewTimer": true, "NewTicker": true}

// randConstructors are the math/rand functions that make a generator
// rather than draw from the global one.
var randConstructors = map[string]bool{"New": true, "NewPCG": true, "NewSource": true, "NewChaCha8": true, "NewZipf": true}

// purityViolations returns what in one Go source file breaks the rules of
// deterministic code: a go statement, the wall clock, the global random
// source.
func purityViolations(fset *token.FileSet, f *ast.File) []string {
	names := map[string]string{} // local name -> import path
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		name := filepath.Base(p)
		if p == "math/rand/v2" {
			name = "rand"
		}
		if imp.Name != nil {
			name = imp.Name.Name
		}
		names[name] = p
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.GoStmt:
			out = append(out, fset.Position(x.Pos()).String()+": go statement")
		case *ast.SelectorExpr:
			id, ok := x.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch names[id.Name] {
			case "time":
				if wallClock[x.Sel.Name] {
					out = append(out, fset.Position(x.Pos()).String()+": time."+x.Sel.Name+" (wall clock)")
				}
			case "math/rand", "math/rand/v2":
				if r := x.Sel.Name; r[0] >= 'A' && r[0] <= 'Z' && !randConstructors[r] && !isRandType(r) {
					out = append(out, fset.Position(x.Pos()).String()+": rand."+r+" (global random source)")
				}
			}
		}
		return true
	})
	return out
}

// isRandType reports whether name is a type of math/rand (used in
// declarations, not a draw).
func isRandType(name string) bool {
	switch name {
	case "Rand", "Source", "PCG", "ChaCha8", "Zipf", "Source64":
		return true
	}
	return false
}

// TestLayeringPurity proves with go/ast that proto/, link/impair and sim/
// contain no go statement, no wall-clock call and no use of the global
// math/rand source (DESIGN.md: time comes from proto/clock, randomness from
// proto/rng, and one goroutine runs the code).
func TestLayeringPurity(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	files := 0
	for _, root := range []string{"../proto", "../link/impair", "../sim"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			files++
			for _, v := range purityViolations(fset, f) {
				t.Error(v)
			}
			return nil
		})
		require.NoError(t, err)
	}
	assert.Greater(t, files, 30)

	// The check can fail.
	src := `package p
import ("time"; "math/rand")
func f() { go f(); _ = time.Now(); time.Sleep(1); _ = rand.Intn(3); _ = rand.New(rand.NewSource(1)) }`
	f, err := parser.ParseFile(fset, "bad.go", src, parser.SkipObjectResolution)
	require.NoError(t, err)
	v := purityViolations(fset, f)
	require.Len(t, v, 4, "%v", v)
	assert.Contains(t, v[0], "go statement")
	assert.Contains(t, v[1], "time.Now")
	assert.Contains(t, v[2], "time.Sleep")
	assert.Contains(t, v[3], "rand.Intn")
}
