package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// watchInterval is how often taprun checks that its device and its network
// namespace still exist.
var watchInterval = 250 * time.Millisecond

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

// watchDevice returns a channel that receives one error, and is then
// closed, when the device named dev no longer exists (ip link del), or when
// the named network namespace taprun was started in (ip netns exec NAME) is
// deleted (ip netns del NAME). A read on a tap whose device went away can
// block for ever, and a deleted namespace lives on, unreachable, as long as
// taprun is in it: without this watch taprun would run on unseen. The watch
// stops when ctx ends.
func watchDevice(ctx context.Context, dev string) <-chan error {
	ch := make(chan error, 1)
	ns, nsIno := currentNetns()
	go func() {
		defer close(ch)
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if ns != "" {
				if ino, ok := inode(filepath.Join(netnsDir, ns)); !ok || ino != nsIno {
					ch <- fmt.Errorf("network namespace %s was deleted: stopping", ns)
					return
				}
			}
			if _, err := net.InterfaceByName(dev); err != nil {
				ch <- fmt.Errorf("device %s went away (%v): stopping", dev, err)
				return
			}
		}
	}()
	return ch
}

// currentNetns returns the name under netnsDir of the network namespace
// this process runs in, and its inode, or "" when it has no such name (the
// host's namespace, or an unnamed one).
func currentNetns() (string, uint64) {
	self, ok := inode("/proc/self/ns/net")
	if !ok {
		return "", 0
	}
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return "", 0
	}
	for _, e := range ents {
		if ino, ok := inode(filepath.Join(netnsDir, e.Name())); ok && ino == self {
			return e.Name(), ino
		}
	}
	return "", 0
}

// inode returns the inode number of the file at path.
func inode(path string) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}
