// Package testenv decides what a test does when something it needs from
// the machine is missing (a tool such as tshark, network namespaces, the
// shared captures): it skips, unless SIMNET_REQUIRE=all is set (as .ci/run
// sets it), in which case it fails, so that CI never passes by skipping.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequireEnv is the environment variable that turns skips for a missing
// prerequisite into failures when set to RequireAll.
const (
	RequireEnv = "SIMNET_REQUIRE"
	RequireAll = "all"
)

// Required reports whether every prerequisite is required (SIMNET_REQUIRE=all).
func Required() bool { return os.Getenv(RequireEnv) == RequireAll }

// Missing ends t because a prerequisite is missing: t.Skip normally,
// t.Fatal under SIMNET_REQUIRE=all. The message says what is missing.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (%s=%s: a missing prerequisite fails the test)", msg, RequireEnv, RequireAll)
		return
	}
	t.Skip(msg)
}

// Tool returns the path of the named program, ending t through Missing
// when it is not on PATH.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not installed (apt-get install the package that provides it): %v", name, err)
	}
	return p
}

// Optional returns the path of the named program and true, or, when it is
// missing, logs that the check needing it is left out and returns false;
// under SIMNET_REQUIRE=all a missing program fails t instead.
func Optional(t testing.TB, name, check string) (string, bool) {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p, true
	}
	if Required() {
		t.Fatalf("%s is not installed: %s cannot run (%s=%s)", name, check, RequireEnv, RequireAll)
		return "", false
	}
	t.Logf("%s is not installed (apt-get install the package that provides it): %s left out", name, check)
	return "", false
}
