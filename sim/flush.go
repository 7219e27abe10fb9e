package sim

import (
	"errors"
	"fmt"
)

// FlushCaptures writes every capture's buffered packets through to its
// output without closing it, so that a reader sees the run so far (a test
// comparing capture bytes mid-run). It runs on the world's goroutine.
func (w *World) FlushCaptures() error {
	var errs []error
	for _, h := range w.captureHosts {
		if err := w.captures[h].Flush(); err != nil {
			errs = append(errs, fmt.Errorf("sim: flush capture of host %q: %w", h, err))
		}
	}
	return errors.Join(errs...)
}
