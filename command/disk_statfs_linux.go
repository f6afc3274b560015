package command

import "syscall"

// statfsBytes returns the bytes available to unprivileged users and the total size of the
// filesystem holding dir. Linux counts blocks in units of the fragment size.
func statfsBytes(dir string) (avail, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	return st.Bavail * unit, st.Blocks * unit, nil
}
