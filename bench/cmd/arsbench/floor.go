package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ars-project/ars/bench/floor"
	"github.com/ars-project/ars/internal/config"
)

// runFloor listens, says "ready", and on SIGTERM prints its counts as JSON.
func runFloor(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	bind := fs.String("bind", "127.0.0.1", "address to listen on")
	ports := fs.String("ports", "", "UDP port range, e.g. 4001-4010")
	rcvbuf := fs.Int("rcvbuf", 8<<20, "receive buffer per socket (default: the daemon's default)")
	batch := fs.Int("batch", 64, "datagrams per recvmmsg")
	gro := fs.Bool("gro", true, "let the kernel merge back-to-back datagrams (UDP GRO), as the daemon does by default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pr, err := config.ParsePortRange(*ports)
	if err != nil {
		return err
	}
	var list []int
	for p := pr.First; p <= pr.Last; p++ {
		list = append(list, p)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	r, err := floor.Listen(*bind, list, *rcvbuf, *batch, *gro)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	<-sig
	r.Close()
	return json.NewEncoder(os.Stdout).Encode(r.Counts())
}
