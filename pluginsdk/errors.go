package pluginsdk

import (
	"errors"
	"fmt"
	"time"
)

// stepError is an error classified by the handler: permanent or retryable,
// optionally with the delay before the next attempt.
type stepError struct {
	permanent  bool
	retryAfter time.Duration
	err        error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// Retryable marks err as a transient failure: the engine retries the step
// with backoff until its retry limit. Plain (unmarked) errors returned by a
// handler are retryable too; Retryable makes the intent explicit and can
// override a Permanent deeper in the chain. Retryable(nil) returns nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &stepError{err: err}
}

// Permanent marks err as a failure that no retry can fix (invalid input, a
// refused payment): the engine fails the step at once, whatever attempts
// remain. Permanent(nil) returns nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &stepError{permanent: true, err: err}
}

// RetryAfter marks err as retryable and asks the engine to wait d (instead
// of the computed backoff) before the next attempt, for example when a
// remote service said when to come back. A d of zero or less behaves like
// Retryable. RetryAfter(d, nil) returns nil.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	if d < 0 {
		d = 0
	}
	return &stepError{retryAfter: d, err: err}
}

// PermanentErrorf is shorthand for Permanent(fmt.Errorf(format, args...)).
func PermanentErrorf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

// RetryableErrorf is shorthand for Retryable(fmt.Errorf(format, args...)).
func RetryableErrorf(format string, args ...any) error {
	return Retryable(fmt.Errorf(format, args...))
}

// IsPermanent reports whether err was marked with Permanent. When an error
// chain holds several marks, the outermost one wins. It is mainly useful in
// handler tests.
func IsPermanent(err error) bool {
	permanent, _ := classify(err)
	return permanent
}

// RetryDelay returns the delay requested with RetryAfter, or zero when err
// carries none (the outermost mark wins, as for IsPermanent).
func RetryDelay(err error) time.Duration {
	_, d := classify(err)
	return d
}

// classify returns how the engine should treat err.
func classify(err error) (permanent bool, retryAfter time.Duration) {
	var se *stepError
	if errors.As(err, &se) {
		return se.permanent, se.retryAfter
	}
	return false, 0
}
