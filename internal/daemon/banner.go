package daemon

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/ars-project/ars/internal/config"
)

// printDevBanner tells a newcomer the generated credentials and how to use
// them. It goes to stdout, never to the log, and shows the certificate
// only to a terminal: under systemd stdout is the journal, which must not
// hold a secret, so there it names the file to source instead.
func printDevBanner(w io.Writer, cfg config.Config, path string, created, tty bool) {
	verb := "Using"
	if created {
		verb = "Generated"
	}
	fmt.Fprintf(w, "ars: development mode (no ARS_APP_ID configured).\n%s a development app ID and certificate, stored in %s (mode 0600):\n", verb, path)
	if tty {
		fmt.Fprintf(w, "  export ARS_APP_ID=%s\n  export ARS_APP_CERTIFICATE=%s\n", cfg.AppID, cfg.AppCertificate)
	} else {
		fmt.Fprintf(w, "  set -a; . %s; set +a\n", path)
	}
	fmt.Fprintf(w, `Mint a recording key and start recording channel "demo" as uid 1:
  ars start --channel demo --uid 1 --key "$(ars key recording --channel demo --uid 1)"
Recordings go to %s. Set ARS_APP_ID and ARS_APP_CERTIFICATE for production.
`, cfg.FileRoot)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
