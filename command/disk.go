package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// diskSpaceCommand measures the filesystem holding a directory on the installer's host:
// command ids "disk_space_available" (bytes an unprivileged user may still write) and
// "disk_space_total" (the filesystem's size).
type diskSpaceCommand struct{ total bool }

// diskSpaceData is the data of disk_space_available and disk_space_total.
type diskSpaceData struct {
	// Dir is the directory whose filesystem is measured.
	Dir string `json:"dir"`
	classicPlacement
}

// DataType returns the type of the disk space commands' data.
func (diskSpaceCommand) DataType() reflect.Type { return reflect.TypeOf(diskSpaceData{}) }

// diskSpacePrepared is a validated disk space command.
type diskSpacePrepared struct {
	dir   string
	total bool
}

// Prepare validates data.dir.
func (c diskSpaceCommand) Prepare(data json.RawMessage, _ SpecContext) (Prepared, error) {
	var d diskSpaceData
	if errs := decodeStrict(dataRoot, data, &d); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	if errs := d.check(); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	switch {
	case d.Dir == "":
		return nil, invalid(dataRoot.Child("dir"), `required: give the directory to measure, such as "/var/lib"`)
	case strings.IndexByte(d.Dir, 0) >= 0:
		return nil, invalid(dataRoot.Child("dir"), "must not contain a NUL byte")
	}
	return &diskSpacePrepared{dir: d.Dir, total: c.total}, nil
}

// Run measures the filesystem of dir with statfs(2): stdout is the number of bytes, in
// decimal without a newline (available: the blocks free to unprivileged users, as df's
// "Avail"; total: the filesystem's size), and the status is 0.
//
// A dir that does not exist yet is measured at its nearest existing parent, the filesystem
// it would be created on (an installer checks space before it creates its data directory);
// stderr then says which directory was measured. Any other failure (permission denied, an
// I/O error) sets Err, with CodeGeneralError: there is no number to compare.
func (p *diskSpacePrepared) Run(ctx context.Context, env *Env) (*Result, error) {
	start := time.Now()
	var out Output
	if ctx.Err() != nil {
		setInterrupted(ctx, env, &out)
		return singleOutput(out, start), nil
	}
	dir, err := filepath.Abs(p.dir)
	if err != nil {
		out.StatusCode, out.Err = CodeGeneralError, fmt.Errorf("data.dir: %w", err)
		return singleOutput(out, start), nil
	}
	measured := dir
	for {
		avail, total, err := statfsBytes(measured)
		if err == nil {
			n := avail
			if p.total {
				n = total
			}
			out.Stdout = strconv.FormatUint(n, 10)
			if measured != dir {
				out.Stderr = fmt.Sprintf("%s does not exist; measured %s, the filesystem it would be created on", dir, measured)
			}
			break
		}
		parent := filepath.Dir(measured)
		if !errors.Is(err, fs.ErrNotExist) || parent == measured {
			out.StatusCode, out.Err = CodeGeneralError, fmt.Errorf("data.dir: statfs %s: %w", measured, err)
			break
		}
		measured = parent
	}
	return singleOutput(out, start), nil
}
