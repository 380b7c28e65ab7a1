//go:build unix

package participant

import (
	"os"
	"syscall"
)

// takeLock opens path and takes its lock without waiting; the lock goes
// with the file's closing, or the process's end. A symbolic link at path
// is not followed (the temporary directory is everyone's): that slot is
// taken.
func takeLock(path string) (*os.File, bool) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}
