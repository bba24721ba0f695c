// Package arsmix makes the live composite of a classic (ARS) recording
// asked for with "mixed": true: every participant in a best-fit grid,
// their sound mixed, written as mixed_HHMMSS.mp4 beside the per-UID
// captures. The composite is made by an ars-mixer process (mixrun); a
// mixer that fails never fails the per-UID recording.
package arsmix
