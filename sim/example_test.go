package sim_test

import (
	"fmt"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/sim"
)

// A two-host world: a link with 10 ms of delay one way, a frame sent at
// once and the link taken down after 5 ms.
func ExampleWorld() {
	w, err := sim.New(sim.Config{Seed: 1})
	if err != nil {
		panic(err)
	}
	defer w.Close()
	l, err := w.Connect("wan", sim.Iface{Host: "alice", Name: "eth0"}, sim.Iface{Host: "bob", Name: "eth0"},
		sim.LinkConfig{AtoB: impair.Config{Delay: 10 * time.Millisecond}})
	if err != nil {
		panic(err)
	}
	l.B().SetReceiver(link.ReceiverFunc(func(frame []byte, note link.Note) {
		fmt.Printf("bob got %d bytes at +%v\n", len(frame), w.Elapsed())
	}))
	frame := make([]byte, 60) // an Ethernet frame, as a host would build it
	fmt.Println("sent:", l.A().Send(frame).IsZero())
	w.RunFor(time.Second)

	l.ScheduleUp(w.Now().Add(5*time.Millisecond), false)
	w.After(20*time.Millisecond, func(clock.Time) {
		fmt.Println("after down:", l.A().Send(frame))
	})
	w.RunFor(time.Second)
	s := l.Stats()
	fmt.Printf("%s: offered %d, delivered %d, dropped %d\n", s.Name, s.AtoB.Offered, s.AtoB.Delivered, s.AtoB.Dropped)
	// Output:
	// sent: true
	// bob got 60 bytes at +10ms
	// after down: simnet: dropped by link: link down
	// wan: offered 2, delivered 1, dropped 1
}
