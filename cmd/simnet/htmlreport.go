package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/simnet-go/simnet/report/htmlreport"
	"github.com/simnet-go/simnet/sim/scenario"
)

// checkReportFlag checks --report: "" or "html"; html needs an output
// directory (out is "" when none was given).
func checkReportFlag(report, out string) error {
	switch report {
	case "":
		return nil
	case "html":
		if out == "" {
			return fmt.Errorf("--report html needs --out DIR")
		}
		return nil
	default:
		return fmt.Errorf("--report %q: the one report format is html", report)
	}
}

// writeRunReport writes dir/report.html for a finished run.
func writeRunReport(dir string, s *scenario.Scenario, rep *scenario.Report) error {
	var source []byte
	if s.File != "" {
		source, _ = os.ReadFile(s.File)
	}
	page, err := htmlreport.RunPage(dir, rep, source)
	if err != nil {
		return fmt.Errorf("report.html: %w", err)
	}
	return htmlreport.Write(dir, page)
}

// writeReplayReport writes out/report.html for a capture and returns the
// exit status.
func writeReplayReport(stdout, stderr io.Writer, capture, out string) int {
	if err := os.MkdirAll(out, 0o755); err != nil {
		fmt.Fprintf(stderr, "simnet replay: output directory: %v\n", err)
		return exitScenario
	}
	page, err := htmlreport.ReplayPage(capture)
	if err == nil {
		err = htmlreport.Write(out, page)
	}
	if err != nil {
		fmt.Fprintf(stderr, "simnet replay: %v\n", err)
		return exitScenario
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(out, htmlreport.File))
	return 0
}
