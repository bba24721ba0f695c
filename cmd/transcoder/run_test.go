package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/testmedia"
)

// writeCapture writes a capture of real encoded media into a recording
// directory of root and returns its path.
func writeCapture(t *testing.T, root, channel, name string) string {
	t.Helper()
	dir := filepath.Join(root, time.Now().Format("2006_01_02"), channel+"_100000")
	if err := os.MkdirAll(dir, storage.DirMode); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	streams := testmedia.Generate(t, testmedia.Options{Duration: 2 * time.Second})
	testmedia.WriteCapture(t, path, storage.Header{Channel: channel, UID: 7, Source: "rtp"}, streams)
	return path
}

func writeGarbage(t *testing.T, root, channel, name string) string {
	t.Helper()
	dir := filepath.Join(root, time.Now().Format("2006_01_02"), channel+"_100000")
	if err := os.MkdirAll(dir, storage.DirMode); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xde, 0xad}, 4096), storage.FileMode); err != nil {
		t.Fatal(err)
	}
	return path
}

func mp4Of(src string) string { return strings.TrimSuffix(src, ".tmp") + ".mp4" }

func checkMP4(t *testing.T, path string) {
	t.Helper()
	p := testmedia.ProbeMP4(t, path)
	if v := p.Stream("video"); v == nil || v.Frames == 0 {
		t.Errorf("%s: no video: %+v", path, p.Streams)
	}
	if a := p.Stream("audio"); a == nil || a.Frames == 0 {
		t.Errorf("%s: no audio: %+v", path, p.Streams)
	}
}

// errorLines returns the lines `grep error` would print.
func errorLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "error") {
			out = append(out, l)
		}
	}
	return out
}

func TestRunUsage(t *testing.T) {
	t.Setenv("AGORA_FILE_ROOT", "")
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"help", []string{"-h"}, 0},
		{"version", []string{"--version"}, 0},
		{"no root", nil, 2},
		{"once and schedule", []string{"--root", dir, "--once", "--schedule", "@hourly"}, 2},
		{"bad schedule", []string{"--root", dir, "--schedule", "every tuesday-ish"}, 2},
		{"negative workers", []string{"--root", dir, "--workers", "-1"}, 2},
		{"negative max age", []string{"--root", dir, "--max-age", "-1h"}, 2},
		{"bad duration", []string{"--root", dir, "--max-age", "3 days"}, 2},
		{"unknown flag", []string{"--root", dir, "--fast"}, 2},
		{"empty root", []string{"--root", dir}, 0},
		{"missing root", []string{"--root", filepath.Join(dir, "absent")}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), c.args, &stdout, &stderr)
			if got := exitCode(err); got != c.code {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, c.code, stderr.String())
			}
		})
	}
}

func TestRunPass(t *testing.T) {
	root := t.TempDir()
	good := writeCapture(t, root, "room", "1_100000.tmp")
	old := writeCapture(t, root, "room", "2_100000.tmp")
	past := time.Now().Add(-80 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"--root", root, "--workers", "2"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	checkMP4(t, mp4Of(good))
	if _, err := os.Stat(mp4Of(old)); err == nil {
		t.Error("a capture older than 72h was converted")
	}
	log := stderr.String()
	if !strings.Contains(log, "msg=converted") || !strings.Contains(log, "speed=") || !strings.Contains(log, "component=transcoder") {
		t.Errorf("log:\n%s", log)
	}
	if lines := errorLines(log); len(lines) > 0 {
		t.Errorf("a clean pass logged error lines: %q", lines)
	}
	if strings.ContainsAny(log, "\r\x1b") {
		t.Error("progress bar drawn without a terminal")
	}
	// A second pass has nothing to do; --max-age 0 lifts the limit.
	stderr.Reset()
	if err := run(context.Background(), []string{"--root", root, "--max-age", "0"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	checkMP4(t, mp4Of(old))
	if strings.Count(stderr.String(), "msg=converted") != 1 {
		t.Errorf("second pass log:\n%s", stderr.String())
	}
}

func TestRunFailureIsGreppable(t *testing.T) {
	root := t.TempDir()
	good := writeCapture(t, root, "room", "1_100000.tmp")
	bad := writeGarbage(t, root, "room", "2_100000.tmp")
	logFile := filepath.Join(t.TempDir(), "agora_hourly.log")
	if err := os.WriteFile(logFile, []byte("earlier line\n"), storage.FileMode); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--root", root, "--log", logFile}, &stdout, &stderr)
	if !errors.Is(err, errFailed) || exitCode(err) != 1 {
		t.Fatalf("err %v, exit %d", err, exitCode(err))
	}
	checkMP4(t, mp4Of(good))
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.HasPrefix(log, "earlier line\n") {
		t.Error("log file was not appended to")
	}
	lines := errorLines(log)
	if len(lines) != 1 || !strings.Contains(lines[0], "file="+bad) {
		t.Fatalf("grep error found %q in:\n%s", lines, log)
	}
	if !strings.Contains(log, "msg=converted") {
		t.Errorf("no success line:\n%s", log)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr used despite --log: %s", stderr.String())
	}
}

func TestRunPathsIgnoreAgeAndDefaultRoot(t *testing.T) {
	root := t.TempDir()
	t.Setenv("AGORA_FILE_ROOT", root)
	a := writeCapture(t, root, "a", "1_100000.tmp")
	b := writeCapture(t, root, "b", "2_100000.tmp")
	past := time.Now().Add(-30 * 24 * time.Hour)
	for _, p := range []string{a, b} {
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	// Flags after a PATH still count.
	if err := run(context.Background(), []string{filepath.Dir(a), "--workers", "1"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	checkMP4(t, mp4Of(a))
	if _, err := os.Stat(mp4Of(b)); err == nil {
		t.Error("a capture not named was converted")
	}
	// Without PATHs, $AGORA_FILE_ROOT is swept; b is too old for that.
	stderr.Reset()
	if err := run(context.Background(), nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mp4Of(b)); err == nil {
		t.Error("old capture converted by a root pass")
	}
}

func TestRunSchedule(t *testing.T) {
	root := t.TempDir()
	src := writeCapture(t, root, "room", "1_100000.tmp")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var stderr syncWriter
	go func() {
		done <- run(ctx, []string{"--root", root, "--schedule", "@every 1s"}, &bytes.Buffer{}, &stderr)
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(mp4Of(src)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pass ran:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, errAborted) {
		t.Fatalf("run: %v", err)
	}
	checkMP4(t, mp4Of(src))
	if !strings.Contains(stderr.String(), "msg=scheduled") {
		t.Errorf("log:\n%s", stderr.String())
	}
}
