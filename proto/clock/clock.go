// Package clock is the time contract between protocol code and the driver
// that runs it.
//
// Protocol code never reads the wall clock and never sleeps: it asks a Clock
// for the current instant and arms Timers, which the driver fires from its one
// loop goroutine. The simulator's clock jumps from event to event, a replay's
// follows capture timestamps and a live driver's follows the wall clock; all
// three use the same Scheduler, so timer order is identical everywhere.
//
// Timers are values owned by the code that arms them. Arming a pending timer
// moves it; nothing is allocated per schedule.
package clock

import "time"

// Time is an instant in nanoseconds since the Unix epoch.
type Time int64

// FromTime converts a time.Time to a Time.
func FromTime(t time.Time) Time { return Time(t.UnixNano()) }

// Std converts t to a time.Time in UTC.
func (t Time) Std() time.Time { return time.Unix(0, int64(t)).UTC() }

// Add returns t+d.
func (t Time) Add(d time.Duration) Time { return t + Time(d) }

// Sub returns the duration t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

// Before reports whether t is before u.
func (t Time) Before(u Time) bool { return t < u }

// After reports whether t is after u.
func (t Time) After(u Time) bool { return t > u }

// String formats t as RFC 3339 with nanoseconds.
func (t Time) String() string { return t.Std().Format(time.RFC3339Nano) }

// Clock is what protocol code sees of time: the current instant and timers.
type Clock interface {
	// Now returns the current instant of the driver's timeline.
	Now() Time
	// Schedule arms t to fire at instant at (or at once, on the next loop
	// turn, if at is not after Now). A pending t is moved, not duplicated.
	Schedule(t *Timer, at Time)
	// Cancel disarms t. Cancelling a timer that is not pending does nothing.
	Cancel(t *Timer)
}

// Handler is called when a timer fires.
type Handler interface {
	// OnTimer runs on the driver's loop when the timer fires.
	OnTimer(now Time)
}

// HandlerFunc adapts a function to Handler. Create it once, when the owner
// is built, not per schedule.
type HandlerFunc func(now Time)

// OnTimer calls f(now).
func (f HandlerFunc) OnTimer(now Time) { f(now) }

// Timer is a re-armable timer. The zero value is not usable: call Init once.
// Its scheduling fields belong to the Scheduler that holds it.
type Timer struct {
	h     Handler
	when  Time
	seq   uint64
	index int32  // position in the scheduler's heap, inWheel, or idle
	prev  *Timer // neighbours in the scheduler's wheel bucket
	next  *Timer
}

// Timer.index values besides heap positions.
const (
	idle    = -1
	inWheel = -2
)

// Init sets the handler called when t fires. Call it once, before scheduling.
func (t *Timer) Init(h Handler) {
	t.h = h
	t.index = idle
}

// Pending reports whether t is armed.
func (t *Timer) Pending() bool { return t.index != idle }

// When returns the instant t is armed for (meaningful only while Pending).
func (t *Timer) When() Time { return t.when }
