// Package privdrop switches a process that opened its devices and files as
// root to an ordinary user for the rest of its life (taprun --user, simnet
// run --tap --user).
package privdrop

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// Credential is the identity a process drops to with --user: a uid, its
// primary gid and its supplementary groups.
type Credential struct {
	// Name is the user's name.
	Name string
	// UID and GID are the user's id and primary group id.
	UID, GID int
	// Groups are the group ids setgroups installs, the primary one first.
	Groups []int
}

// Lookup resolves --user, a user name or a numeric uid, to the user's
// credential from the user database (/etc/passwd and /etc/group). A user
// the database does not know is an error: it never guesses a group.
func Lookup(spec string) (Credential, error) {
	var c Credential
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
	c.Name = u.Username
	if c.UID, err = strconv.Atoi(u.Uid); err != nil {
		return c, fmt.Errorf("--user %q: uid %q: %w", spec, u.Uid, err)
	}
	if c.GID, err = strconv.Atoi(u.Gid); err != nil {
		return c, fmt.Errorf("--user %q: gid %q: %w", spec, u.Gid, err)
	}
	c.Groups = []int{c.GID}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			g, err := strconv.Atoi(s)
			if err == nil && g != c.GID {
				c.Groups = append(c.Groups, g)
			}
		}
	}
	return c, nil
}

// Drop switches the whole process to c: supplementary groups,
// then the group, then the user (in that order, since setgroups and setgid
// need the privilege setuid gives up). On Linux Go applies each call to every
// thread of the process (since Go 1.16), and setuid from root sets the real,
// effective and saved uid, so the capabilities are gone for good. It then
// checks that root cannot be regained.
//
// Without root, dropping to oneself is allowed and does nothing; dropping to
// anyone else is an error.
func Drop(c Credential) error {
	if os.Geteuid() != 0 {
		if os.Geteuid() == c.UID && os.Getegid() == c.GID {
			return nil
		}
		return fmt.Errorf("--user %s: only root can switch users (running as uid %d)", c.Name, os.Geteuid())
	}
	if err := syscall.Setgroups(c.Groups); err != nil {
		return fmt.Errorf("--user %s: setgroups %v: %w", c.Name, c.Groups, err)
	}
	if err := syscall.Setgid(c.GID); err != nil {
		return fmt.Errorf("--user %s: setgid %d: %w", c.Name, c.GID, err)
	}
	if err := syscall.Setuid(c.UID); err != nil {
		return fmt.Errorf("--user %s: setuid %d: %w", c.Name, c.UID, err)
	}
	if c.UID != 0 {
		if err := syscall.Setuid(0); err == nil {
			return fmt.Errorf("--user %s: could switch back to root after dropping privileges", c.Name)
		}
	}
	if os.Getuid() != c.UID || os.Geteuid() != c.UID || os.Getgid() != c.GID || os.Getegid() != c.GID {
		return fmt.Errorf("--user %s: still uid %d/%d gid %d/%d after dropping privileges",
			c.Name, os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid())
	}
	return nil
}
