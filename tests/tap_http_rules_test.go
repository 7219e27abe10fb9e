package tests

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// TestTapHTTPRules: curl against taprun --http PORT:DIR (issue 18 item 7,
// issue 17 item 3): GET and HEAD only (405 with Allow, 501 for an unknown
// method, never a 200 to CONNECT), 414 for an over-long target, a request
// with Transfer-Encoding and Content-Length refused and its connection
// closed, a leading empty line ignored, 100 Continue for Expect, and no
// way out of DIR through a symlink or "..".
func TestTapHTTPRules(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "curl")
	ns := tapNS(t)
	base := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(base, "secret.txt"), []byte("outside secret\n"), 0o644))
	dir := filepath.Join(base, "www")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("inside page\n"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(dir, "abs.txt")))
	require.NoError(t, os.Symlink("../secret.txt", filepath.Join(dir, "rel.txt")))
	startTaprun(t, ns, "--ip", tapStackCIDR, "--http", "80:"+dir)
	url := "http://" + tapStackIP

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// curlHead runs curl with -D - (response heads on stdout) and returns
	// the output; curl's own failure (CONNECT refused) is not fatal.
	curl := func(t *testing.T, args ...string) string {
		t.Helper()
		out, _ := ns.Output(ctx, "curl", append([]string{"-sS", "--max-time", "20", "-D", "-", "-o", "/dev/null"}, args...)...)
		return out
	}
	tests := []struct {
		name   string
		args   []string
		status string   // the status line's code
		has    []string // other lines the heads must hold
	}{
		{"GET", []string{url + "/"}, "200", nil},
		{"HEAD", []string{"-I", url + "/"}, "200", []string{"Content-Length: 12"}},
		{"POST: 405 with Allow", []string{"-X", "POST", "-d", "x=1", url + "/"}, "405", []string{"Allow: GET, HEAD"}},
		{"DELETE: 405", []string{"-X", "DELETE", url + "/index.html"}, "405", []string{"Allow: GET, HEAD"}},
		{"unknown method: 501", []string{"-X", "BREW", url + "/"}, "501", nil},
		{"CONNECT in origin form: 405", []string{"-X", "CONNECT", url + "/"}, "405", nil},
		{"CONNECT through a proxy tunnel: 405", []string{"-p", "-x", tapStackIP + ":80", "http://192.0.2.9/"}, "405", nil},
		{"target of 9000 octets: 414", []string{url + "/" + strings.Repeat("a", 9000)}, "414", nil},
		{"Transfer-Encoding and Content-Length: 400 and close", []string{"-H", "Transfer-Encoding: chunked", "-H", "Content-Length: 5", "-d", "hello", url + "/"}, "400", []string{"Connection: close"}},
		{"absolute symlink out of DIR: 404", []string{url + "/abs.txt"}, "404", nil},
		{"relative symlink out of DIR: 404", []string{url + "/rel.txt"}, "404", nil},
		{"dot-dot: 404", []string{"--path-as-is", url + "/../secret.txt"}, "404", nil},
		{"encoded dot-dot: 404", []string{"--path-as-is", url + "/%2e%2e/secret.txt"}, "404", nil},
		{"encoded slash and dot-dot: 404", []string{"--path-as-is", url + "/..%2fsecret.txt"}, "404", nil},
		{"mixed dot-dot: 404", []string{"--path-as-is", url + "/.%2e/secret.txt"}, "404", nil},
		{"upper-case encoding: 404", []string{"--path-as-is", url + "/%2E%2E%2Fsecret.txt"}, "404", nil},
		{"double encoding: 404", []string{"--path-as-is", url + "/%252e%252e/secret.txt"}, "404", nil},
		{"backslash: 400", []string{"--path-as-is", url + "/..%5csecret.txt"}, "400", nil},
		{"dot-dot through a directory: 404", []string{"--path-as-is", url + "/x/../../secret.txt"}, "404", nil},
		{"absolute form with dot-dot: 404", []string{"--path-as-is", "--request-target", "http://" + tapStackIP + "/../secret.txt", url + "/"}, "404", nil},
		{"Expect: 100-continue", []string{"-X", "GET", "-H", "Expect: 100-continue", "--expect100-timeout", "30", "-d", "body", url + "/"}, "200", []string{"HTTP/1.1 100 Continue"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			out := curl(t, tc.args...)
			var final string
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "HTTP/1.1 ") && !strings.HasPrefix(l, "HTTP/1.1 100") {
					final = strings.TrimSpace(l)
				}
			}
			require.NotEmpty(t, final, "no response head in %q", out)
			assert.Equal(t, tc.status, strings.Fields(final)[1], out)
			for _, h := range tc.has {
				assert.Contains(t, out, h)
			}
			assert.NotContains(t, out, "outside secret")
			if tc.name == "Expect: 100-continue" {
				assert.Less(t, time.Since(start), 10*time.Second, "curl waited for a 100 Continue that never came")
			}
		})
	}

	// Raw: a leading empty line is ignored (RFC 9112 section 2.2), and a
	// request with both framings closes the connection (RFC 9112 section
	// 6.1) even though the client asked to keep it.
	raw := func(t *testing.T, req string) (*http.Response, *bufio.Reader) {
		t.Helper()
		c := dialIn(t, ns, tapStackIP+":80", 5*time.Second)
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		_, err := io.WriteString(c, req)
		require.NoError(t, err)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp, br
	}
	t.Run("leading empty line", func(t *testing.T) {
		resp, _ := raw(t, "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
		assert.Equal(t, 200, resp.StatusCode)
	})
	t.Run("TE and CL close the connection", func(t *testing.T) {
		resp, br := raw(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
		assert.Equal(t, 400, resp.StatusCode)
		_, err := br.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "the connection is closed, the pipelined GET unanswered")
	})
}
