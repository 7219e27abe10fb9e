package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// credential is the identity taprun drops to with --user: a uid, its primary
// gid and its supplementary groups.
type credential struct {
	name   string
	uid    int
	gid    int
	groups []int
}

// lookupUser resolves --user, a user name or a numeric uid, to the user's
// credential from the user database (/etc/passwd and /etc/group). A user
// the database does not know is an error: taprun never guesses a group.
func lookupUser(spec string) (credential, error) {
	var c credential
	if spec == "" {
		return c, errors.New("--user: empty user name")
	}
	u, err := user.Lookup(spec)
	if err != nil {
		var unknown user.UnknownUserError
		if _, perr := strconv.Atoi(spec); perr != nil || !errors.As(err, &unknown) {
			return c, fmt.Errorf("--user %q: %w", spec, err)
		}
		if u, err = user.LookupId(spec); err != nil {
			return c, fmt.Errorf("--user %q: %w", spec, err)
		}
	}
	c.name = u.Username
	if c.uid, err = strconv.Atoi(u.Uid); err != nil {
		return c, fmt.Errorf("--user %q: uid %q: %w", spec, u.Uid, err)
	}
	if c.gid, err = strconv.Atoi(u.Gid); err != nil {
		return c, fmt.Errorf("--user %q: gid %q: %w", spec, u.Gid, err)
	}
	c.groups = []int{c.gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			g, err := strconv.Atoi(s)
			if err == nil && g != c.gid {
				c.groups = append(c.groups, g)
			}
		}
	}
	return c, nil
}

// dropPrivileges switches the whole process to c: supplementary groups,
// then the group, then the user (in that order, since setgroups and setgid
// need the privilege setuid gives up). On Linux Go applies each call to every
// thread of the process (since Go 1.16), and setuid from root sets the real,
// effective and saved uid, so the capabilities are gone for good. It then
// checks that root cannot be regained.
//
// Without root, dropping to oneself is allowed and does nothing; dropping to
// anyone else is an error.
func dropPrivileges(c credential) error {
	if os.Geteuid() != 0 {
		if os.Geteuid() == c.uid && os.Getegid() == c.gid {
			return nil
		}
		return fmt.Errorf("--user %s: only root can switch users (running as uid %d)", c.name, os.Geteuid())
	}
	if err := syscall.Setgroups(c.groups); err != nil {
		return fmt.Errorf("--user %s: setgroups %v: %w", c.name, c.groups, err)
	}
	if err := syscall.Setgid(c.gid); err != nil {
		return fmt.Errorf("--user %s: setgid %d: %w", c.name, c.gid, err)
	}
	if err := syscall.Setuid(c.uid); err != nil {
		return fmt.Errorf("--user %s: setuid %d: %w", c.name, c.uid, err)
	}
	if c.uid != 0 {
		if err := syscall.Setuid(0); err == nil {
			return fmt.Errorf("--user %s: could switch back to root after dropping privileges", c.name)
		}
	}
	if os.Getuid() != c.uid || os.Geteuid() != c.uid || os.Getgid() != c.gid || os.Getegid() != c.gid {
		return fmt.Errorf("--user %s: still uid %d/%d gid %d/%d after dropping privileges",
			c.name, os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid())
	}
	return nil
}

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
