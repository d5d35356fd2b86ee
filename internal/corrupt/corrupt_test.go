package corrupt_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/internal/corrupt"
)

func TestGuardTurnsPanicIntoError(t *testing.T) {
	err := corrupt.Guard("squashfs image", func() error {
		var s []int
		_ = s[3] // index out of range, as a parser trusting a field would
		return nil
	})
	if err == nil || !errors.Is(err, corrupt.ErrCorrupt) || !strings.HasPrefix(err.Error(), "corrupt squashfs image (") {
		t.Fatalf("got %v", err)
	}
	want := errors.New("plain")
	if err := corrupt.Guard("x", func() error { return want }); err != want {
		t.Errorf("plain error changed: %v", err)
	}
}

type panicky struct{}

func (panicky) Read([]byte) (int, error) { panic("bad block") }
func (panicky) Close() error             { return nil }

func TestReaderTurnsPanicIntoError(t *testing.T) {
	_, err := io.ReadAll(corrupt.Reader("FAT filesystem", panicky{}))
	if !errors.Is(err, corrupt.ErrCorrupt) || !strings.Contains(err.Error(), "bad block") {
		t.Fatalf("got %v", err)
	}
}
