package tcptest

// Log records a connection's events, in order, as short strings: the
// names given to Add, and "closed" or "closed:ERROR" from Closed.
type Log struct {
	Events []string
}

// Add records the event name.
func (l *Log) Add(name string) { l.Events = append(l.Events, name) }

// Closed records the end of the connection with its error, if any.
func (l *Log) Closed(err error) {
	if err != nil {
		l.Add("closed:" + err.Error())
		return
	}
	l.Add("closed")
}
