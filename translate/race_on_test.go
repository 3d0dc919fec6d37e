//go:build race

package translate

// raceEnabled: under the race detector, sync.Pool drops what it is given
// at random, so a reader borrowing from one allocates now and then.
const raceEnabled = true
