//go:build unix && !linux

package command

import "syscall"

// statfsBytes returns the bytes available to unprivileged users and the total size of the
// filesystem holding dir. BSD-derived systems count blocks in units of f_bsize.
func statfsBytes(dir string) (avail, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), uint64(st.Blocks) * uint64(st.Bsize), nil
}
