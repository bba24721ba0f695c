// Package webrun supervises one web page recording: an ars-mixer
// --web-recorder process (internal/mixer's RunWebRecorder) that renders
// the page in Chromium on a private Xvfb and PulseAudio and writes the
// compositor's outputs. The daemon checks the page's URL first
// (CheckURL), starts a Recorder, holds and resumes it, ends it; the
// recorder reports its files, progress, readiness and failure through the
// options' callbacks. A recorder that dies is reported and, within
// WithMaxRestarts, replaced (a new page load: the outputs get a gap);
// never restarted in a loop.
package webrun
