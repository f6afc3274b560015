package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"
)

// codeInterrupted is the status code of a command the caller cancelled: 130, what a shell
// reports for a program stopped by Ctrl-C (128+SIGINT). It is deliberately not 1, the code
// that classic specs often treat as an answer ("grep found nothing").
const codeInterrupted = 130

// setInterrupted fills out for a command that ctx stopped: CodeTimeout and a *TimeoutError when
// its deadline passed, codeInterrupted and the cancellation cause otherwise. Either way Err
// is set, so that condition.error sees it.
func setInterrupted(ctx context.Context, env *Env, out *Output) {
	cause := context.Cause(ctx)
	if cause == nil {
		cause = context.Canceled
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		out.StatusCode = CodeTimeout
		var after time.Duration
		if env != nil {
			after = env.Timeout
		}
		out.Err = &TimeoutError{After: after, Cause: cause}
		return
	}
	out.StatusCode = codeInterrupted
	out.Err = fmt.Errorf("canceled before it finished: %w", cause)
}

// errnoOf returns the errno inside err, if any.
func errnoOf(err error) (syscall.Errno, bool) {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno, true
	}
	return 0, false
}

// loggerOf returns env's logger, or one that discards when a caller ran the command
// without a runner.
func loggerOf(env *Env) *slog.Logger {
	if env != nil && env.Logger != nil {
		return env.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// singleOutput wraps one output as a Result, stamping its duration.
func singleOutput(out Output, start time.Time) *Result {
	out.Duration = time.Since(start)
	return &Result{Outputs: []Output{out}}
}
