package qdisc

import (
	"math/rand/v2"

	"github.com/simnet-go/simnet/proto/clock"
)

// fqFlow is one flow queue of FQ-CoDel (RFC 8290 section 4.1): its packets,
// its DRR deficit, its CoDel state and its place in the new or old list.
type fqFlow struct {
	q       ring
	deficit int
	cv      codelVars
	next    int32 // next flow in its list, -1 at the tail
	list    uint8 // listNone, listNew or listOld
	parent  *fqCoDelQ
}

const (
	listNone uint8 = iota
	listNew
	listOld
)

// pop and backlog let CoDel dequeue from the flow while looking at the
// whole qdisc's backlog, as Linux's fq_codel does.
func (f *fqFlow) pop() (Packet, bool) {
	p, ok := f.q.pop()
	if ok {
		f.parent.backlogBytes -= len(p.Frame)
		f.parent.n--
	}
	return p, ok
}
func (f *fqFlow) backlog() int { return f.parent.backlogBytes }

// flowList is an intrusive FIFO list of flow indices.
type flowList struct{ head, tail int32 }

// fqCoDelQ is FQ-CoDel (RFC 8290): packets hashed into flow queues served
// by deficit round robin with new flows first, each flow under CoDel.
type fqCoDelQ struct {
	base
	flows        []fqFlow
	newFlows     flowList
	oldFlows     flowList
	cp           codelParams
	quantum      int
	limit        int
	n            int
	backlogBytes int
	perturb      uint64
	drop         DropFunc
}

func newFQCoDel(p Params, maxFrame int, rnd *rand.Rand, drop DropFunc) *fqCoDelQ {
	f := &fqCoDelQ{
		flows:    make([]fqFlow, p.Flows),
		newFlows: flowList{-1, -1},
		oldFlows: flowList{-1, -1},
		cp:       codelParams{target: p.Target, interval: p.Interval, maxPacket: maxFrame, ecn: p.ECN},
		quantum:  p.Quantum,
		limit:    p.Limit,
		perturb:  rnd.Uint64(),
		drop:     drop,
	}
	for i := range f.flows {
		f.flows[i].next = -1
		f.flows[i].parent = f
	}
	f.st.Kind = FQCoDel
	return f
}

func (f *fqCoDelQ) pushTail(l *flowList, i int32, which uint8) {
	f.flows[i].next = -1
	f.flows[i].list = which
	if l.tail < 0 {
		l.head = i
	} else {
		f.flows[l.tail].next = i
	}
	l.tail = i
}

func (f *fqCoDelQ) popHead(l *flowList) int32 {
	i := l.head
	l.head = f.flows[i].next
	if l.head < 0 {
		l.tail = -1
	}
	f.flows[i].next = -1
	f.flows[i].list = listNone
	return i
}

// classify returns pkt's flow queue (RFC 8290 section 4.1.1).
func (f *fqCoDelQ) classify(frame []byte) int32 {
	h := flowHash(frame, f.perturb)
	return int32((h >> 32) * uint64(len(f.flows)) >> 32)
}

// Enqueue puts the packet in its flow's queue; a flow that was not active
// joins the new flows with a full quantum (section 4.1.2). Over the limit,
// packets are dropped from the head of the flow with the largest backlog.
func (f *fqCoDelQ) Enqueue(now clock.Time, pkt Packet) Verdict {
	idx := f.classify(pkt.Frame)
	fl := &f.flows[idx]
	pkt.Enqueued = now
	fl.q.push(pkt)
	f.n++
	f.backlogBytes += len(pkt.Frame)
	f.st.Enqueued++
	if fl.list == listNone {
		f.pushTail(&f.newFlows, idx, listNew)
		fl.deficit = f.quantum
	}
	if f.n > f.limit {
		f.dropFattest(now)
	}
	return Queued
}

// dropFattest drops from the head of the flow with the largest backlog until
// half of that backlog is gone or fqDropBatch packets are, as Linux's
// fq_codel_drop does (RFC 8290 section 4.1.2 asks for the head of the
// largest queue).
func (f *fqCoDelQ) dropFattest(now clock.Time) {
	fat, most := 0, -1
	for i := range f.flows {
		if b := f.flows[i].q.bytes; b > most {
			fat, most = i, b
		}
	}
	fl := &f.flows[fat]
	threshold := fl.q.bytes / 2
	dropped := 0
	for i := 0; i < fqDropBatch && dropped < threshold || i == 0; i++ {
		p, ok := fl.pop()
		if !ok {
			break
		}
		dropped += len(p.Frame)
		f.st.Drops++
		f.st.DropsOverlimit++
		f.drop(p, Overlimit, now)
	}
}

// Dequeue serves the new flows, then the old ones, by deficit round robin;
// CoDel runs per flow (section 4.1.3).
func (f *fqCoDelQ) Dequeue(now clock.Time) (Packet, bool) {
	for {
		l, which := &f.newFlows, listNew
		if l.head < 0 {
			l, which = &f.oldFlows, listOld
			if l.head < 0 {
				return Packet{}, false
			}
		}
		idx := l.head
		fl := &f.flows[idx]
		if fl.deficit <= 0 {
			fl.deficit += f.quantum
			f.popHead(l)
			f.pushTail(&f.oldFlows, idx, listOld)
			continue
		}
		p, ok := f.cp.dequeue(&fl.cv, fl, now, &f.base, f.drop)
		if !ok {
			f.popHead(l)
			// An emptied new flow goes to the old list, so that a flow
			// cannot starve others by emptying and refilling (4.1.3).
			if which == listNew && f.oldFlows.head >= 0 {
				f.pushTail(&f.oldFlows, idx, listOld)
			}
			continue
		}
		fl.deficit -= len(p.Frame)
		f.sent(now, &p)
		return p, true
	}
}

func (f *fqCoDelQ) Len() int     { return f.n }
func (f *fqCoDelQ) Backlog() int { return f.backlogBytes }
func (f *fqCoDelQ) Stats() Stats { return f.stats() }

// Flush empties every flow queue and both lists.
func (f *fqCoDelQ) Flush(fn func(Packet)) {
	for i := range f.flows {
		fl := &f.flows[i]
		for {
			p, ok := fl.pop()
			if !ok {
				break
			}
			fn(p)
		}
		fl.next, fl.list, fl.deficit = -1, listNone, 0
		fl.cv.dropping, fl.cv.firstAboveTime = false, 0
	}
	f.newFlows, f.oldFlows = flowList{-1, -1}, flowList{-1, -1}
}
