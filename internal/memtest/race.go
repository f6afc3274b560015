//go:build race

package memtest

// raceEnabled: the race detector's shadow memory and bookkeeping take two to four times the
// RSS of a heap that churns, so peak RSS under it says nothing about the code measured.
const raceEnabled = true
