// Package report owns the benchmark's outputs: RESULTS.md with the
// machine, the commands and the tables, and a PNG chart of loss and CPU
// against channel count drawn with image/png and a small line plotter
// (no plotting dependency).
package report
