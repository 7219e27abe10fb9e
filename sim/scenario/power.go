package scenario

import "github.com/simnet-go/simnet/link"

// powerPort sits between one boot of a host's interface and the link: when
// the host crashes it is switched off for good, so the old stack's timers
// and apps send into nothing and nothing reaches them, while the link (and
// its capture) stays; a restart puts a new powerPort on the same link.
type powerPort struct {
	ep   link.Endpoint
	recv link.Receiver
	// off is shared by every power port of one boot's interface.
	off *bool
}

// Send passes the frame to the link while the host runs.
func (p *powerPort) Send(frame []byte) link.Note {
	if *p.off {
		return link.Note{Drop: link.DropNoPeer}
	}
	return p.ep.Send(frame)
}

// SetReceiver makes this boot's interface the link's receiver.
func (p *powerPort) SetReceiver(r link.Receiver) {
	p.recv = r
	p.ep.SetReceiver(p)
}

// Receive delivers a frame to the interface while the host runs.
func (p *powerPort) Receive(frame []byte, note link.Note) {
	if !*p.off && p.recv != nil {
		p.recv.Receive(frame, note)
	}
}

// MTU is the link's.
func (p *powerPort) MTU() int { return p.ep.MTU() }

// serverApp reports whether an app of this type is a server a host starts
// again when it boots (a service), rather than a client run once.
func serverApp(typ string) bool {
	switch typ {
	case AppUDPSink, AppTCPEcho, AppTCPDiscard, AppTCPRecv, AppDHCPServer, AppDNSServer, AppHTTPServer:
		return true
	}
	return false
}
