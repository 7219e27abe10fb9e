// Package tap is a link.Endpoint over a Linux tap device, the live driver's
// link: frames the kernel sends out of the tap reach the stack, frames the
// stack sends appear on the tap as if received from a wire.
//
// The device is opened through github.com/songgao/water (TUNSETIFF in tap
// mode, no packet information header). By default an existing device is
// opened by name and left in place when the endpoint closes; with
// Config.Create a missing device is created and disappears again on Close.
//
// A reader goroutine reads frames into a fixed set of buffers and posts each
// one to the stack's loop (loop.Loop.Post), where it is handed to the
// receiver; the buffer returns to the free list afterwards. When every buffer
// is in flight the reader waits, so a slow loop pushes back on the kernel
// (whose tap queue then drops) instead of growing memory. Send runs on the
// loop and writes the frame to the device directly. Nothing is allocated per
// frame on either path.
//
// The package is Linux-only.
package tap

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/songgao/water"
	"golang.org/x/sys/unix"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/loop"
)

// etherHeaderLen is the Ethernet II header length; vlanTagLen is the length
// of one 802.1Q tag the kernel may leave in a frame.
const (
	etherHeaderLen = 14
	vlanTagLen     = 4
)

// DefaultBuffers is the number of receive buffers when Config.Buffers is 0.
const DefaultBuffers = 256

// Errors that Open wraps, so a command can tell the user what to do.
var (
	// ErrNotFound is returned when the device does not exist and
	// Config.Create is not set.
	ErrNotFound = errors.New("tap device does not exist")
	// ErrBusy is returned when another process holds the device open.
	ErrBusy = errors.New("tap device is busy (another process has it open)")
	// ErrPermission is returned when the caller may not open or create the
	// device (it needs CAP_NET_ADMIN, or ownership of a persistent device).
	ErrPermission = errors.New("not permitted to open the tap device")
	// ErrNotTap is returned when the named device exists but is not a tap
	// (a tun device, or an ordinary interface).
	ErrNotTap = errors.New("device is not a tap")
)

// Config says which device to open and how.
type Config struct {
	// Name is the device name, such as "tap0". It is required.
	Name string
	// Create creates the device when it does not exist (it needs
	// CAP_NET_ADMIN) and brings its link up. A device created this way is
	// removed when the endpoint closes; an existing device is left in place.
	Create bool
	// MTU, when positive, is set on the device (SIOCSIFMTU) at open.
	MTU int
	// Buffers is the number of receive buffers, DefaultBuffers when 0: the
	// most frames read from the device and not yet handled by the loop.
	Buffers int
}

// Stats are an endpoint's running totals.
type Stats struct {
	// RxFrames and RxBytes count frames read from the device and delivered.
	RxFrames, RxBytes uint64
	// RxDropped counts frames read but not delivered: no receiver set, or
	// longer than the MTU allows.
	RxDropped uint64
	// TxFrames and TxBytes count frames written to the device whole.
	TxFrames, TxBytes uint64
	// TxErrors counts writes that failed or were short (Note.Drop =
	// link.DropError).
	TxErrors uint64
}

// rxBuf is one receive buffer and its delivery, bound once so posting it to
// the loop allocates nothing.
type rxBuf struct {
	d       *Endpoint
	b       []byte
	n       int
	deliver func()
}

// Endpoint is a link.Endpoint over a tap device. Send and SetReceiver must be
// called from the loop goroutine; Stats, HardwareAddr and Close from any.
type Endpoint struct {
	l       *loop.Loop
	ifce    *water.Interface
	name    string
	mtu     int
	created bool

	recv link.Receiver // loop goroutine only

	free    chan *rxBuf
	closing chan struct{} // closed by Close: the reader stops waiting for buffers
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	err     error // the reader's terminal error, set before done closes

	rxFrames, rxBytes, rxDropped atomic.Uint64
	txFrames, txBytes, txErrors  atomic.Uint64
}

// Open opens the tap device cfg.Name and starts reading from it, posting
// received frames to l. Frames are dropped (and counted) until SetReceiver
// is called. The caller must Close the endpoint.
func Open(l *loop.Loop, cfg Config) (*Endpoint, error) {
	if cfg.Name == "" {
		return nil, errors.New("open tap: no device name")
	}
	if len(cfg.Name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("open tap %q: name longer than %d bytes", cfg.Name, unix.IFNAMSIZ-1)
	}
	// The control socket, like the device, belongs to the network
	// namespace of the calling thread.
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open tap %s: control socket: %w", cfg.Name, err)
	}
	defer unix.Close(s)
	exists, err := deviceExists(s, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("open tap %s: %w", cfg.Name, err)
	}
	if !exists && !cfg.Create {
		return nil, fmt.Errorf("open tap %s: %w (create it with `ip tuntap add dev %s mode tap`, or pass --create)",
			cfg.Name, ErrNotFound, cfg.Name)
	}
	ifce, err := water.New(water.Config{
		DeviceType: water.TAP,
		PlatformSpecificParams: water.PlatformSpecificParams{
			Name: cfg.Name,
			// water sets TUNSETPERSIST from this flag: keep a device we
			// did not create, let one we created vanish on close.
			Persist: exists,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("open tap %s: %w", cfg.Name, classify(err))
	}
	d := &Endpoint{l: l, ifce: ifce, name: ifce.Name(), created: !exists,
		closing: make(chan struct{}), done: make(chan struct{})}
	if err := d.setup(s, cfg); err != nil {
		_ = ifce.Close()
		return nil, err
	}
	n := cfg.Buffers
	if n <= 0 {
		n = DefaultBuffers
	}
	size := d.mtu + etherHeaderLen + vlanTagLen + 1 // +1 tells an oversized frame apart
	d.free = make(chan *rxBuf, n)
	for i := 0; i < n; i++ {
		rb := &rxBuf{d: d, b: make([]byte, size)}
		rb.deliver = rb.run
		d.free <- rb
	}
	d.wg.Add(1)
	go d.read()
	return d, nil
}

// setup reads (or sets) the MTU through the control socket s and, for a created device, brings it up.
func (d *Endpoint) setup(s int, cfg Config) error {
	ifr, err := unix.NewIfreq(d.name)
	if err != nil {
		return fmt.Errorf("open tap %s: %w", d.name, err)
	}
	if cfg.MTU > 0 {
		ifr.SetUint32(uint32(cfg.MTU))
		if err := unix.IoctlIfreq(s, unix.SIOCSIFMTU, ifr); err != nil {
			if errors.Is(err, unix.EPERM) {
				err = classify(err)
			}
			return fmt.Errorf("open tap %s: set MTU %d: %w", d.name, cfg.MTU, err)
		}
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFMTU, ifr); err != nil {
		return fmt.Errorf("open tap %s: get MTU: %w", d.name, err)
	}
	d.mtu = int(ifr.Uint32())
	if d.created {
		if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
			return fmt.Errorf("open tap %s: get flags: %w", d.name, err)
		}
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
			return fmt.Errorf("open tap %s: set link up: %w", d.name, classify(err))
		}
	}
	return nil
}

// deviceExists reports whether a network interface called name exists in
// the network namespace of the control socket s.
func deviceExists(s int, name string) (bool, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return false, err
	}
	switch err := unix.IoctlIfreq(s, unix.SIOCGIFINDEX, ifr); {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENODEV):
		return false, nil
	default:
		return false, fmt.Errorf("look up device: %w", err)
	}
}

// classify maps an errno from TUNSETIFF or an ioctl to this package's errors.
func classify(err error) error {
	switch {
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%w: %w", ErrBusy, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (needs root or CAP_NET_ADMIN): %w", ErrPermission, err)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w: %w", ErrNotTap, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("/dev/net/tun is missing (load the tun module): %w", err)
	}
	return err
}

// Name returns the device name.
func (d *Endpoint) Name() string { return d.name }

// MTU returns the device's MTU, read when it was opened.
func (d *Endpoint) MTU() int { return d.mtu }

// HardwareAddr returns the MAC address of the kernel's side of the device.
// The stack on the endpoint uses a MAC of its own.
func (d *Endpoint) HardwareAddr() (net.HardwareAddr, error) {
	ifi, err := net.InterfaceByName(d.name)
	if err != nil {
		return nil, fmt.Errorf("tap %s: hardware address: %w", d.name, err)
	}
	return ifi.HardwareAddr, nil
}

// Created reports whether Open created the device (it is removed on Close).
func (d *Endpoint) Created() bool { return d.created }

// SetReceiver sets where received frames go. Call it from the loop.
func (d *Endpoint) SetReceiver(r link.Receiver) { d.recv = r }

// Send writes frame to the device. A failed or short write is counted and
// reported as link.DropError.
func (d *Endpoint) Send(frame []byte) link.Note {
	n, err := d.ifce.Write(frame)
	if err != nil || n != len(frame) {
		d.txErrors.Add(1)
		return link.Note{Drop: link.DropError}
	}
	d.txFrames.Add(1)
	d.txBytes.Add(uint64(n))
	return link.Note{}
}

// Stats returns the running totals.
func (d *Endpoint) Stats() Stats {
	return Stats{
		RxFrames:  d.rxFrames.Load(),
		RxBytes:   d.rxBytes.Load(),
		RxDropped: d.rxDropped.Load(),
		TxFrames:  d.txFrames.Load(),
		TxBytes:   d.txBytes.Load(),
		TxErrors:  d.txErrors.Load(),
	}
}

// Done is closed when the reader stops: after Close, or when the device
// fails (Err then says why).
func (d *Endpoint) Done() <-chan struct{} { return d.done }

// Err returns the error that stopped the reader, or nil while it runs and
// after a clean Close.
func (d *Endpoint) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Close stops the reader and closes the device; a device Open created is
// removed. Frames already posted to the loop are still delivered if the loop
// runs. Close is safe to call more than once.
func (d *Endpoint) Close() error {
	var err error
	d.once.Do(func() {
		close(d.closing)
		err = d.ifce.Close()
		d.wg.Wait()
		if err != nil {
			err = fmt.Errorf("close tap %s: %w", d.name, err)
		}
	})
	return err
}

// read is the reader goroutine.
func (d *Endpoint) read() {
	defer d.wg.Done()
	defer close(d.done)
	limit := d.mtu + etherHeaderLen + vlanTagLen
	for {
		var rb *rxBuf
		select {
		case rb = <-d.free:
		case <-d.closing:
			// Every buffer is waiting for a loop that may never run again.
			return
		}
		n, err := d.ifce.Read(rb.b)
		if err != nil {
			d.free <- rb
			if !errors.Is(err, os.ErrClosed) {
				d.err = fmt.Errorf("read tap %s: %w", d.name, err)
			}
			return
		}
		if n < etherHeaderLen || n > limit {
			d.rxDropped.Add(1)
			d.free <- rb
			continue
		}
		rb.n = n
		d.l.Post(rb.deliver)
	}
}

// run delivers the buffer's frame on the loop and frees the buffer.
func (rb *rxBuf) run() {
	d := rb.d
	if d.recv == nil {
		d.rxDropped.Add(1)
	} else {
		d.rxFrames.Add(1)
		d.rxBytes.Add(uint64(rb.n))
		d.recv.Receive(rb.b[:rb.n], link.Note{})
	}
	d.free <- rb
}
