// Command fuzzinstr is a -toolexec wrapper for `go test -fuzz` that keeps
// the fuzzer's coverage instrumentation only in this module's packages.
//
// `go test -fuzz` compiles every package of the test binary with
// -d=libfuzzer (except a few in the standard library), and on every
// execution the fuzzer clears and scans all coverage counters. In a test
// binary that links testify and gopacket, about nine in ten counters belong
// to those libraries and the standard library, so scanning them, not running
// our parsers, dominates the cost of an execution. fuzzinstr drops
// -d=libfuzzer from the compile of every package outside the prefixes named
// in FUZZINSTR (comma-separated import-path prefixes; default the module,
// github.com/simnet-go/simnet), so the fuzzer is guided by coverage of our
// code only and runs several times faster.
//
//	go build -o /tmp/fuzzinstr ./internal/cmd/fuzzinstr
//	go test -toolexec /tmp/fuzzinstr -run '^$' -fuzz '^FuzzParse$' ./proto/arp
//
// The compiler's -V=full answer gets a suffix naming the prefixes, so the go
// command caches these objects apart from fully instrumented ones. Any tool
// other than compile runs unchanged.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// defaultPrefixes is the import path of this module.
const defaultPrefixes = "github.com/simnet-go/simnet"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go test -toolexec fuzzinstr ... (FUZZINSTR=prefix,prefix)")
		os.Exit(2)
	}
	prefixes := splitPrefixes(os.Getenv("FUZZINSTR"))
	tool, args := os.Args[1], os.Args[2:]
	tmpFile := ""
	isCompile := strings.TrimSuffix(filepath.Base(tool), ".exe") == "compile"
	if isCompile && len(args) == 1 && args[0] == "-V=full" {
		out, err := exec.Command(tool, args...).Output()
		if err != nil {
			fail(err)
		}
		fmt.Println(versionLine(string(out), prefixes))
		return
	}
	if isCompile {
		expanded, err := expandResponseFiles(args)
		if err != nil {
			fail(err)
		}
		if filtered := filterArgs(expanded, prefixes); len(filtered) != len(expanded) {
			long := len(expanded) != len(args)
			if args, err = responseFile(filtered, long); err != nil {
				fail(err)
			}
			if long {
				tmpFile = args[0][1:]
			}
		}
	}
	code := run(tool, args)
	if tmpFile != "" {
		_ = os.Remove(tmpFile)
	}
	os.Exit(code)
}

// run runs tool with args and the standard streams, and returns its exit
// code.
func run(tool string, args []string) int {
	cmd := exec.Command(tool, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "fuzzinstr: %v\n", err)
		return 2
	}
	return 0
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "fuzzinstr: %v\n", err)
	os.Exit(2)
}

// splitPrefixes parses FUZZINSTR; empty means the module.
func splitPrefixes(s string) []string {
	if strings.TrimSpace(s) == "" {
		s = defaultPrefixes
	}
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// versionLine marks the compiler's -V=full line so that the go command,
// which keys its build cache on that line, keeps objects built through
// fuzzinstr apart. A development toolchain's line must end in its buildID
// field, so the mark is appended to that field.
func versionLine(line string, prefixes []string) string {
	line = strings.TrimSpace(line)
	mark := "fuzzinstr=" + strings.Join(prefixes, ",")
	if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[len(f)-1], "buildID=") {
		return line + "+" + mark
	}
	return line + " " + mark
}

// filterArgs drops -d=libfuzzer from a compile command line whose package
// (-p) is outside prefixes.
func filterArgs(args, prefixes []string) []string {
	pkg := ""
	for i, a := range args {
		if a == "-p" && i+1 < len(args) {
			pkg = args[i+1]
		}
	}
	if pkg != "" && instrumented(pkg, prefixes) {
		return args
	}
	out := make([]string, 0, len(args))
	for _, a := range args {
		if a != "-d=libfuzzer" {
			out = append(out, a)
		}
	}
	return out
}

// instrumented reports whether pkg is one of prefixes or below one; the
// external test package of a directory (path_test) counts as its package.
func instrumented(pkg string, prefixes []string) bool {
	pkg = strings.TrimSuffix(pkg, "_test")
	for _, p := range prefixes {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// expandResponseFiles replaces each @file argument, which the go command
// uses for very long command lines, by the arguments the file holds (one a
// line, backslash and newline escaped as cmd/go's encodeArg does).
func expandResponseFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "@") {
			out = append(out, a)
			continue
		}
		raw, err := os.ReadFile(a[1:])
		if err != nil {
			return nil, fmt.Errorf("response file: %w", err)
		}
		for line := range strings.SplitSeq(strings.TrimSuffix(string(raw), "\n"), "\n") {
			out = append(out, decodeArg(line))
		}
	}
	return out, nil
}

// responseFile returns args as they are or, when the go command had put
// them in a response file (long), as a new response file.
func responseFile(args []string, long bool) ([]string, error) {
	if !long {
		return args, nil
	}
	f, err := os.CreateTemp("", "fuzzinstr-*.args")
	if err != nil {
		return nil, fmt.Errorf("response file: %w", err)
	}
	defer f.Close()
	for _, a := range args {
		a = strings.ReplaceAll(strings.ReplaceAll(a, `\`, `\\`), "\n", `\n`)
		if _, err := fmt.Fprintln(f, a); err != nil {
			return nil, fmt.Errorf("response file: %w", err)
		}
	}
	return []string{"@" + f.Name()}, nil
}

// decodeArg undoes cmd/go's encodeArg: \\ is a backslash, \n a newline.
func decodeArg(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == 'n' {
				b.WriteByte('\n')
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
