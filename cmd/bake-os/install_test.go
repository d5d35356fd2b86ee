package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bake-os/bake-os/gpt"
	"github.com/bake-os/bake-os/install"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/sparse"
	"github.com/bake-os/bake-os/testimage"
)

// runIn is run with stdin given.
func runIn(t *testing.T, dir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd(&deps{stdout: &out, stderr: &errb, cwd: dir})
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("bake-os: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), exitCode(err)
}

func TestInstallCommand(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "debugfs", "sgdisk")
	dir := t.TempDir()
	ctx := context.Background()
	img := filepath.Join(dir, "img", "flatcar_production_image.bin")
	os.MkdirAll(filepath.Dir(img), 0o755)
	if err := testimage.Generate(ctx, img, testimage.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Sysext(ctx, filepath.Join(dir, "ext.raw"), "ext", "ID=_any\n", nil); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "disk.img")
	os.WriteFile(disk, []byte("old contents"), 0o644)
	os.Truncate(disk, 9<<30)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"install", "--image", "img/flatcar_production_image.bin", "ext:ext.raw"}, "install needs --device"},
		{[]string{"install", "--device", "disk.img", "--vendor", "qemu", "--image", "img/flatcar_production_image.bin"}, "--vendor"},
		// No terminal and no --yes: refused before anything happens.
		{[]string{"install", "--device", "disk.img", "--image", "img/flatcar_production_image.bin", "ext:ext.raw"}, "pass --yes"},
	} {
		_, stderr, code := runIn(t, dir, "yes\n", c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", c.args, code, exitUsage, c.want, stderr)
		}
	}
	got := make([]byte, 12)
	f, _ := os.Open(disk)
	f.ReadAt(got, 0)
	f.Close()
	if string(got) != "old contents" {
		t.Fatalf("a refused install wrote to the disk: %q", got)
	}

	start := time.Now()
	stdout, stderr, code := runIn(t, dir, "", "install", "--device", "disk.img", "--image", "img/flatcar_production_image.bin",
		"--output-dir", "scratch", "--yes", "--json", "--mask", "docker-flatcar", "ext:ext.raw")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	t.Logf("bake-os install to a 9 GiB file: %.1fs", time.Since(start).Seconds())
	var res struct {
		Device       string
		Size         int64
		BytesWritten int64 `json:"bytes_written"`
		Extents      []struct{ Offset, Length int64 }
		Verified     bool
		SHA256       string
		Sysexts      []struct{ Name, Path string }
		Masks        []string
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if res.Device != disk || res.Size != 9<<30 || !res.Verified || len(res.SHA256) != 64 || res.BytesWritten == 0 || len(res.Extents) == 0 ||
		len(res.Sysexts) != 1 || res.Sysexts[0].Path != "/opt/extensions/ext.raw" || len(res.Masks) != 1 {
		t.Errorf("result %s", stdout)
	}
	if v := testutil.Run(t, "sgdisk", "-v", disk); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v: %s", v)
	}
	if v := testutil.Run(t, "debugfs", "-R", "stat /opt/extensions/ext.raw", disk+offset(12722176)); !strings.Contains(v, "Type: regular") {
		t.Errorf("sysext not on the disk: %s", v)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "scratch")); len(ents) != 0 {
		t.Errorf("scratch directory not emptied: %v", ents)
	}
}

// openPTY returns a terminal pair: the master (what the user types into)
// and the slave (the command's stdin).
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.IoctlRetInt(int(m.Fd()), unix.TIOCGPTPEER)
	var s *os.File
	if err == nil {
		s = os.NewFile(uintptr(fd), "pty")
	} else {
		n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
		if err != nil {
			t.Fatal(err)
		}
		if s, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0); err != nil {
			t.Skipf("no pseudo-terminals: %v", err)
		}
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

func TestConfirmOnTerminal(t *testing.T) {
	dev := install.Device{Path: "/dev/sdz", Real: "/dev/sdz", Block: true, Size: 500 << 30, Model: "Test Disk"}
	for answer, ok := range map[string]bool{"yes\n": true, "no\n": false, "\n": false, "y\n": false} {
		m, s := openPTY(t)
		m.Write([]byte(answer))
		var prompt bytes.Buffer
		err := confirm(s, &prompt, dev, false)
		if (err == nil) != ok {
			t.Errorf("answer %q: %v", answer, err)
		}
		if !strings.Contains(prompt.String(), "/dev/sdz (500.0 GiB, Test Disk)") {
			t.Errorf("prompt %q does not name the disk, its size and model", prompt.String())
		}
	}
	if err := confirm(strings.NewReader("yes\n"), &bytes.Buffer{}, dev, false); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("no terminal: %v", err)
	}
	if err := confirm(strings.NewReader(""), &bytes.Buffer{}, dev, true); err != nil {
		t.Errorf("--yes: %v", err)
	}
}

// TestInstallInterrupted signals the real binary while it grows ROOT for
// --grow-root (resize2fs, after the bake): it ends with 130, removes its
// scratch directory and stops the tool. With --no-stream nothing was
// written to the disk before then, and the disk is as it was; without,
// the partitions the bake does not edit were written while decoding, and
// the disk has no valid partition table.
func TestInstallInterrupted(t *testing.T) {
	f := lifecycleFixture(t)
	wrappers := slowTools(t, "resize2fs")
	for _, noStream := range []bool{true, false} {
		t.Run(fmt.Sprintf("no-stream=%v", noStream), func(t *testing.T) {
			disk := filepath.Join(t.TempDir(), "disk.img")
			os.WriteFile(disk, []byte("old contents"), 0o644)
			os.Truncate(disk, 9<<30)
			out := filepath.Join(t.TempDir(), "out")
			args := []string{"install", "--device", disk, "--yes", "--grow-root",
				"--output-dir", out, "--image", f.image, "ext:" + f.ext}
			if noStream {
				args = append(args, "--no-stream")
			}
			p := startBake(t, f.dir, wrappers, "resize2fs", nil, args...)
			p.waitFor(t, "resize2fs")
			code, took := p.signalAndWait(t, syscall.SIGINT)
			t.Logf("exit %d %v after SIGINT; stderr:\n%s", code, took, p.stderr.String())
			if code != 130 || !strings.Contains(p.stderr.String(), "interrupted by SIGINT") {
				t.Errorf("exit %d: %s", code, p.stderr.String())
			}
			assertClean(t, "output directory", out)
			assertClean(t, "TMPDIR", p.tmp)
			p.assertToolsGone(t)
			d, _ := os.Open(disk)
			defer d.Close()
			got := make([]byte, 4096)
			d.ReadAt(got, 0)
			n, _ := sparse.DataBytes(d, 0, 9<<30)
			damage := strings.Contains(p.stderr.String(), "interrupted by SIGINT: "+disk+" is partly written and has no valid partition table: run the install again")
			if noStream {
				if string(got[:12]) != "old contents" || !sparse.IsZero(got[12:]) || n > 4096 {
					t.Errorf("the disk was written (%d data bytes): %q", n, got[:16])
				}
				if damage {
					t.Errorf("an untouched disk is said to be partly written")
				}
				return
			}
			if _, err := gpt.Open(disk); err == nil || n <= 4096 || string(got[:12]) == "old contents" {
				t.Errorf("streamed: %d data bytes, table error %v, first bytes %q", n, err, got[:16])
			}
			if !damage {
				t.Errorf("the interrupted streamed install does not say the disk is partly written")
			}
		})
	}
}

// TestInstallFromRelease installs a --release download with a --fetch
// sysext (servers on 127.0.0.1, throw-away key) onto a file, then refuses
// a tampered release with exit 3 and writes nothing.
func TestInstallFromRelease(t *testing.T) {
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "bzip2", "debugfs", "sgdisk")
	root := t.TempDir()
	key := releaseTree(t, root)
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer srv.Close()
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.img")
	os.WriteFile(disk, nil, 0o644)
	os.Truncate(disk, 9<<30)
	args := []string{"install", "--device", "disk.img", "--yes", "--release", "4593.2.5", "--release-url", srv.URL + "/{channel}",
		"--signing-key", key, "--bakery-url", srv.URL + "/bakery", "--fetch", "--cache-dir", filepath.Join(dir, "cache"),
		"ext:ext-1.0-x86-64.raw"}
	_, stderr, code := runIn(t, dir, "", args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if v := testutil.Run(t, "sgdisk", "-v", disk); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v: %s", v)
	}
	if v := testutil.Run(t, "debugfs", "-R", "stat /opt/extensions/ext-1.0-x86-64.raw", disk+offset(12722176)); !strings.Contains(v, "Type: regular") {
		t.Errorf("sysext not on the disk: %s", v)
	}

	blank := filepath.Join(dir, "blank.img")
	os.WriteFile(blank, nil, 0o644)
	os.Truncate(blank, 9<<30)
	p := filepath.Join(root, "stable/amd64-usr/4593.2.5/flatcar_production_image.bin.bz2")
	data, _ := os.ReadFile(p)
	data[len(data)/2] ^= 1
	os.WriteFile(p, data, 0o644)
	args[2] = "blank.img"
	args[len(args)-2] = filepath.Join(dir, "cache2")
	_, stderr, code = runIn(t, dir, "", args...)
	if code != exitVerify {
		t.Errorf("tampered release: exit %d: %s", code, stderr)
	}
	f, _ := os.Open(blank)
	defer f.Close()
	if n, _ := sparse.DataBytes(f, 0, 9<<30); n != 0 {
		t.Errorf("a refused install wrote %d bytes", n)
	}
	// The working copies (in the default --output-dir ".") are gone.
	assertClean(t, "working directory", dir, "blank.img", "cache", "cache2", "disk.img")
}
