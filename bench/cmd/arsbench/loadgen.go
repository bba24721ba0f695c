package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ars-project/ars/bench/loadgen"
)

// runLoadgen opens channels on a running daemon, sends, stops, and prints
// the per-stream report as JSON.
func runLoadgen(args []string) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	api := fs.String("api", "http://127.0.0.1:8001", "daemon API base URL")
	host := fs.String("host", "127.0.0.1", "address RTP is sent to")
	channels := fs.Int("channels", 10, "channels to open")
	users := fs.Int("users", 2, "participants per channel")
	dur := fs.Duration("duration", 10*time.Second, "sending time")
	workers := fs.Int("workers", 2, "sending goroutines")
	media := fs.String("media", "bench/media", "folder for the generated media")
	kbps := fs.Int("video-kbps", 450, "H.264 bitrate")
	name := fs.String("name", "lg", "run name used in channel names")
	out := fs.String("out", "", "write the JSON report here instead of stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	appID, cert := os.Getenv("ARS_APP_ID"), os.Getenv("ARS_APP_CERTIFICATE")
	if appID == "" || cert == "" {
		return fmt.Errorf("set ARS_APP_ID and ARS_APP_CERTIFICATE to the daemon's credentials")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	m, err := loadgen.EnsureMedia(ctx, *media, loadgen.MediaOptions{VideoKbps: *kbps})
	if err != nil {
		return err
	}
	tr, err := loadgen.LoadTracks(m.Capture)
	if err != nil {
		return err
	}
	targets := loadgen.Targets(*name, *channels, *users)
	cl := &loadgen.Client{Base: *api, AppID: appID, AppCert: cert}
	if err := cl.Open(ctx, targets); err != nil {
		return err
	}
	rep, sendErr := loadgen.Send(ctx, tr, targets, loadgen.SendOptions{Host: *host, Duration: *dur, Workers: *workers})
	// Give the daemon a moment to write what is in flight.
	time.Sleep(time.Second)
	if err := cl.Stop(context.Background(), targets); err != nil {
		return err
	}
	if rep == nil {
		return sendErr
	}
	w := os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	return sendErr
}
