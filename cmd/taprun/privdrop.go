package main

import (
	"io/fs"
	"os"
)

// checkServable reports whether the current user can look up names in root:
// an open directory does not grant that, every lookup checks the search (x)
// permission anew. Whether each file is readable is the file's own business
// (a request for an unreadable one gets 404).
func checkServable(root *os.Root) error {
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return err
	}
	name := "."
	if len(entries) > 0 {
		name = entries[0].Name()
	}
	_, err = root.Lstat(name)
	return err
}
