package pluginsdk

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestErrorMarks(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")

	require.NoError(t, Retryable(nil))
	require.NoError(t, Permanent(nil))
	require.NoError(t, RetryAfter(time.Second, nil))

	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
		delay     time.Duration
	}{
		{"plain", base, false, 0},
		{"retryable", Retryable(base), false, 0},
		{"permanent", Permanent(base), true, 0},
		{"retry after", RetryAfter(1500*time.Millisecond, base), false, 1500 * time.Millisecond},
		{"negative delay", RetryAfter(-time.Second, base), false, 0},
		{"wrapped permanent", fmt.Errorf("ctx: %w", Permanent(base)), true, 0},
		{"outermost wins", Retryable(Permanent(base)), false, 0},
		{"outermost wins 2", Permanent(RetryAfter(time.Second, base)), true, 0},
		{"permanent errorf", PermanentErrorf("bad %d: %w", 7, base), true, 0},
		{"retryable errorf", RetryableErrorf("bad %d", 7), false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.permanent, IsPermanent(tc.err))
			require.Equal(t, tc.delay, RetryDelay(tc.err))
			resp := failure(tc.err)
			require.Equal(t, tc.err.Error(), resp.GetError().GetMessage())
			require.Equal(t, tc.delay.Milliseconds(), resp.GetError().GetRetryAfterMs())
			if tc.permanent {
				require.Equal(t, "KIND_PERMANENT", resp.GetError().GetKind().String())
			} else {
				require.Equal(t, "KIND_RETRYABLE", resp.GetError().GetKind().String())
			}
		})
	}
}

func TestErrorMarksKeepMessageAndChain(t *testing.T) {
	t.Parallel()
	err := Permanent(fmt.Errorf("reading: %w", io.ErrUnexpectedEOF))
	require.Equal(t, "reading: unexpected EOF", err.Error())
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorIs(t, PermanentErrorf("x: %w", io.EOF), io.EOF)
}
