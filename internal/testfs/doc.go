// Package testfs gives tests a real small filesystem that fills up: a
// tmpfs mounted for the test (root only; skipped elsewhere) and a filler
// that writes until the kernel answers ENOSPC. Disk-full behaviour is
// tested against the kernel's own answers, never a fake writer.
package testfs
