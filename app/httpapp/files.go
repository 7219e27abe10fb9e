package httpapp

import (
	"embed"
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
)

// staticFS holds the default page, in the directory staticDir.
//
//go:embed static/index.html
var staticFS embed.FS

const staticDir = "static"

//go:embed static/index.html
var defaultPage []byte

// DefaultPage returns a copy of the embedded page the server shows when it
// has no root directory.
func DefaultPage() []byte { return append([]byte(nil), defaultPage...) }

// Cache bounds: files up to maxCachedFile bytes are read once and kept,
// up to maxCacheBytes in all and maxCacheEntries lookups (hits and misses);
// beyond that, files are read from the root on every request.
const (
	maxCachedFile   = 256 << 10
	maxCacheBytes   = 8 << 20
	maxCacheEntries = 1024
)

// entry is the outcome of looking a request path up in the root.
type entry struct {
	status int    // 200, 400 or 404
	name   string // cleaned path in the root (200 only)
	size   int64
	data   []byte // contents when cached, nil when streamed
	ctype  string
}

// fileCache maps raw request paths to entries, bounded.
type fileCache struct {
	root  fs.FS
	dir   string // directory of root served ("." for all of it)
	m     map[string]*entry
	bytes int
	// noCache looks every request up in root afresh.
	noCache bool
}

var (
	entryBadRequest = &entry{status: 400}
	entryNotFound   = &entry{status: 404}
)

// lookup returns the entry for the raw request path p. A hit does not
// allocate.
func (fc *fileCache) lookup(p []byte) *entry {
	if e, ok := fc.m[string(p)]; ok {
		return e
	}
	e := fc.resolve(p)
	if !fc.noCache && len(fc.m) < maxCacheEntries && (e.data != nil || e.status != 200) {
		if fc.m == nil {
			fc.m = make(map[string]*entry)
		}
		fc.m[string(p)] = e
	}
	return e
}

// resolve maps a raw path to a file of the root: percent-decoding, then
// cleaning so that ".." never leaves the root (fs.FS paths are rooted and
// fs.ValidPath refuses any ".." element that would remain).
func (fc *fileCache) resolve(p []byte) *entry {
	dec, ok := percentDecode(p)
	if !ok || strings.ContainsAny(dec, "\x00\\") {
		return entryBadRequest
	}
	name := path.Join(fc.dir, strings.TrimPrefix(path.Clean("/"+dec), "/"))
	if !fs.ValidPath(name) {
		return entryNotFound
	}
	st, err := fs.Stat(fc.root, name)
	if err == nil && !st.IsDir() && strings.HasSuffix(dec, "/") {
		// A file named as a directory, like open(2)'s ENOTDIR.
		return entryNotFound
	}
	if err == nil && st.IsDir() {
		name = path.Join(name, "index.html")
		st, err = fs.Stat(fc.root, name)
	}
	if err != nil || !st.Mode().IsRegular() {
		return entryNotFound
	}
	e := &entry{status: 200, name: name, size: st.Size(), ctype: contentType(name)}
	if e.size <= maxCachedFile && (fc.noCache || fc.bytes+int(e.size) <= maxCacheBytes) {
		data, err := readFile(fc.root, name, e.size)
		if err != nil {
			return entryNotFound
		}
		e.data = data
		e.size = int64(len(data))
		if !fc.noCache {
			fc.bytes += len(data)
		}
	}
	return e
}

// readFile reads at most max+1 bytes of name and refuses files that grew.
func readFile(root fs.FS, name string, max int64) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, errors.New("file grew while read")
	}
	return data, nil
}

// percentDecode decodes %XX escapes (RFC 3986 section 2.1).
func percentDecode(p []byte) (string, bool) {
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(p) {
			return "", false
		}
		hi, ok1 := hexVal(p[i+1])
		lo, ok2 := hexVal(p[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), true
}

// contentTypes is a fixed table, so responses do not depend on the
// machine's MIME database.
var contentTypes = []struct{ ext, typ string }{
	{".html", "text/html; charset=utf-8"},
	{".htm", "text/html; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".json", "application/json"},
	{".txt", "text/plain; charset=utf-8"},
	{".xml", "application/xml"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".jpg", "image/jpeg"},
	{".jpeg", "image/jpeg"},
	{".gif", "image/gif"},
	{".ico", "image/x-icon"},
	{".wasm", "application/wasm"},
	{".pdf", "application/pdf"},
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	for _, c := range contentTypes {
		if c.ext == ext {
			return c.typ
		}
	}
	return "application/octet-stream"
}
