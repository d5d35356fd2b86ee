package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bake-os/bake-os/internal/atomicfile"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
)

// The tests here run the real binary in a subprocess and signal it while
// it works: SIGINT/SIGTERM in each phase, SIGKILL and a rerun, two runs
// into one directory.

// hangLimit only detects a run that does not end; the measured times are
// logged.
const hangLimit = 10 * time.Second

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// bakeBinary builds bake-os once per test process.
func bakeBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bake-os-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "bake-os")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		out, err := exec.Command(goTool, "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	if lifeDir != "" {
		os.RemoveAll(lifeDir)
	}
	os.Exit(code)
}

// lifeFixture is a generated image with a sysext and an OEM sysext,
// shared by the tests of this file.
type lifeFixture struct {
	dir   string // holds image, version.txt, oem-qemu.raw, ext.raw
	image string
	big   string // a multi-stream .bin.bz2 that takes a while to decode
	ext   string
	// data is an image whose ROOT holds 48 MiB of incompressible data,
	// so that writing a vendor disk of it takes a while.
	data string
}

var (
	lifeOnce sync.Once
	life     *lifeFixture
	lifeErr  error
	lifeDir  string // removed by TestMain
)

func lifecycleFixture(t *testing.T) *lifeFixture {
	t.Helper()
	testutil.RequireTool(t, testimage.RequiredTools...)
	testutil.RequireTool(t, "mksquashfs", "debugfs", "btrfs", "mkfs.btrfs", "resize2fs", "lbzip2", "bzip2", "sh", "sleep", "setsid")
	lifeOnce.Do(func() {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "bake-os-lifecycle-")
		if err != nil {
			lifeErr = err
			return
		}
		lifeDir = dir
		f := &lifeFixture{dir: dir, image: filepath.Join(dir, "flatcar_production_image.bin"),
			big: filepath.Join(dir, "big", "flatcar_production_image.bin.bz2"), ext: filepath.Join(dir, "ext.raw")}
		if lifeErr = testimage.Generate(ctx, f.image, testimage.Options{}); lifeErr != nil {
			return
		}
		oemRel := "ID=flatcar\nVERSION_ID=4593.2.5\nARCHITECTURE=x86-64\nSYSEXT_ID=oem-qemu\nSYSEXT_NAME='QEMU'\nSYSEXT_VERSION_ID=4593.2.5\n"
		if lifeErr = testimage.Sysext(ctx, filepath.Join(dir, "oem-qemu.raw"), "oem-qemu", oemRel, nil); lifeErr != nil {
			return
		}
		if lifeErr = testimage.Sysext(ctx, f.ext, "ext", "ID=flatcar\nSYSEXT_LEVEL=1.0\n", map[string]string{"usr/bin/ext": "x"}); lifeErr != nil {
			return
		}
		if lifeErr = bigBzip2(f.big); lifeErr != nil {
			return
		}
		f.data = filepath.Join(dir, "data", "flatcar_production_image.bin")
		os.MkdirAll(filepath.Dir(f.data), 0o755)
		lifeErr = testimage.Generate(ctx, f.data, testimage.Options{RootFiles: map[string]string{"data": string(noise(48 << 20))}})
		life = f
	})
	if lifeErr != nil {
		t.Fatal(lifeErr)
	}
	return life
}

// bigBzip2 writes 48 concatenated bzip2 streams of one random MiB: cheap
// to make, about a second of decoding with one worker (it is no disk
// image, so a bake that got past decoding would fail on its GPT).
func bigBzip2(path string) error {
	os.MkdirAll(filepath.Dir(path), 0o755)
	cmd := exec.Command("bzip2", "-1", "-c")
	cmd.Stdin = bytes.NewReader(noise(1 << 20))
	stream, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("bzip2: %w", err)
	}
	return os.WriteFile(path, bytes.Repeat(stream, 48), 0o644)
}

// noise returns n incompressible bytes (xorshift).
func noise(n int) []byte {
	b := make([]byte, n)
	seed := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		b[i] = byte(seed >> 32)
	}
	return b
}

// slowTools writes wrappers for tools into a directory put first in PATH.
// A wrapper appends its pid to MARK/NAME.pids on every run; when
// BAKE_TEST_SLOW names it, it also starts "sleep 60" (pid recorded too),
// creates MARK/NAME.started and waits, so a test can signal bake-os while
// that tool runs. With BAKE_TEST_ESCAPE=1 the sleep leaves the tool's
// process group (setsid) and keeps the tool's stdout open.
func slowTools(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		real, err := exec.LookPath(n)
		if err != nil {
			t.Fatal(err)
		}
		script := fmt.Sprintf(`#!/bin/sh
echo $$ >> "$BAKE_TEST_MARK/%[1]s.pids"
if [ "$BAKE_TEST_SLOW" = %[1]s ]; then
	if [ "$BAKE_TEST_ESCAPE" = 1 ]; then
		setsid sleep 60 &
	else
		sleep 60 &
	fi
	echo $! >> "$BAKE_TEST_MARK/%[1]s.pids"
	touch "$BAKE_TEST_MARK/%[1]s.started"
	wait
fi
exec %[2]s "$@"
`, n, real)
		if err := os.WriteFile(filepath.Join(dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// bakeProc is one bake-os subprocess.
type bakeProc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
	mark   string // BAKE_TEST_MARK
	tmp    string // its TMPDIR
}

// startBake starts bake-os with args in dir; slow names the wrapped tool
// that waits (or "").
func startBake(t *testing.T, dir, wrappers, slow string, env []string, args ...string) *bakeProc {
	t.Helper()
	p := &bakeProc{done: make(chan struct{}), mark: t.TempDir(), tmp: t.TempDir()}
	p.cmd = exec.Command(bakeBinary(t), args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "PATH="+wrappers+":"+os.Getenv("PATH"), "BAKE_TEST_MARK="+p.mark,
		"BAKE_TEST_SLOW="+slow, "TMPDIR="+p.tmp)
	p.cmd.Env = append(p.cmd.Env, env...)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		for _, pid := range p.toolPids(t) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return p
}

// waitFor waits until the wrapped tool has started (or the run ended).
func (p *bakeProc) waitFor(t *testing.T, tool string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // setup on a loaded machine
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(p.mark, tool+".started")); err == nil {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("bake-os ended before %s ran: %s", tool, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not start: %s", tool, p.stderr.String())
}

// signalAndWait sends sig and returns the exit status and how long the
// process took to end.
func (p *bakeProc) signalAndWait(t *testing.T, sig syscall.Signal) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return p.wait(t, start)
}

func (p *bakeProc) wait(t *testing.T, start time.Time) (int, time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(hangLimit):
		t.Fatalf("bake-os still running %v after the signal: %s", hangLimit, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

// toolPids lists the pids the wrappers recorded (tools and their sleeps).
func (p *bakeProc) toolPids(t *testing.T) []int {
	var pids []int
	ents, _ := os.ReadDir(p.mark)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".pids") {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(p.mark, e.Name()))
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// assertToolsGone fails when a recorded tool process (or its sleep)
// still runs: killed processes may stay zombies until reaped, which
// counts as gone.
func (p *bakeProc) assertToolsGone(t *testing.T) {
	t.Helper()
	pids := p.toolPids(t)
	if len(pids) == 0 {
		t.Fatal("no tool ran: the wrappers were not used")
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for running(pid) {
			if time.Now().After(deadline) {
				t.Errorf("tool process %d still runs after bake-os ended", pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func running(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// assertClean fails when dir holds anything but want (names).
func assertClean(t *testing.T, what, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s %s holds %q, want %q", what, dir, got, want)
	}
}

// TestInterruptInEveryPhase signals a bake while each kind of work runs:
// the Go bzip2 decoder, debugfs (ROOT), btrfs (OEM), resize2fs (vendor
// disk), lbzip2 (compression), and twice in a row. Each run must end with
// 128+signal well inside hangLimit, leave nothing in its output directory
// or TMPDIR, and leave no tool running.
func TestInterruptInEveryPhase(t *testing.T) {
	f := lifecycleFixture(t)
	wrappers := slowTools(t, "debugfs", "btrfs", "resize2fs", "lbzip2")
	vendor := func(more ...string) []string {
		return append([]string{"--image", f.image, "--vendor", "qemu_uefi", "--oem-sysext-dir", f.dir}, more...)
	}
	cases := []struct {
		name string
		slow string
		sigs []syscall.Signal
		args []string
		env  []string
		// waitFor, without slow: the output whose temp file marks the
		// phase (default: the working copy).
		waitFor string
	}{
		{name: "decode", sigs: []syscall.Signal{syscall.SIGINT},
			args: []string{"--image", f.big, "--workers", "1", "ext:" + f.ext}},
		{name: "debugfs", slow: "debugfs", sigs: []syscall.Signal{syscall.SIGTERM},
			args: []string{"--image", f.image, "ext:" + f.ext}},
		{name: "hangup", slow: "debugfs", sigs: []syscall.Signal{syscall.SIGHUP},
			args: []string{"--image", f.image, "ext:" + f.ext}},
		{name: "btrfs", slow: "btrfs", sigs: []syscall.Signal{syscall.SIGINT},
			args: []string{"--image", f.image, "--install_to", "oem:/sysext/", "ext:" + f.ext}},
		{name: "vendor", slow: "resize2fs", sigs: []syscall.Signal{syscall.SIGTERM},
			args: vendor("--compress", "none")},
		{name: "compression", slow: "lbzip2", sigs: []syscall.Signal{syscall.SIGINT},
			args: vendor("--compress", "bz2")},
		// Go's qcow2 writer and gzip compressor, no external tool.
		{name: "vendor writing", sigs: []syscall.Signal{syscall.SIGTERM}, waitFor: "flatcar_production_qemu_uefi_image.img",
			args: []string{"--image", f.data, "--vendor", "qemu_uefi", "--oem-sysext-dir", f.dir, "--compress", "gz"}},
		// The sleep leaves the tool's process group and holds its
		// output open, so the run cannot return by itself in time: the
		// signal handler must end the process and remove the temp files.
		{name: "stuck tool", slow: "debugfs", sigs: []syscall.Signal{syscall.SIGTERM}, env: []string{"BAKE_TEST_ESCAPE=1"},
			args: []string{"--image", f.image, "ext:" + f.ext}},
		// The same, ended by a second signal before the handler's own
		// deadline.
		{name: "stuck tool, twice", slow: "debugfs", sigs: []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, env: []string{"BAKE_TEST_ESCAPE=1"},
			args: []string{"--image", f.image, "ext:" + f.ext}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			p := startBake(t, f.dir, wrappers, c.slow, c.env, append([]string{"--output-dir", out}, c.args...)...)
			if c.slow != "" {
				p.waitFor(t, c.slow)
			} else {
				waitForTemp(t, p, out, c.waitFor)
			}
			start := time.Now()
			for i, sig := range c.sigs {
				if i > 0 {
					time.Sleep(100 * time.Millisecond)
				}
				if err := p.cmd.Process.Signal(sig); err != nil && i == 0 {
					t.Fatal(err)
				}
			}
			code, took := p.wait(t, start)
			t.Logf("%s: exit %d %v after the signal; stderr:\n%s", c.name, code, took, p.stderr.String())
			if want := 128 + int(c.sigs[0]); code != want {
				t.Errorf("exit %d, want %d: %s", code, want, p.stderr.String())
			}
			if !strings.Contains(p.stderr.String(), "interrupted by "+signalName(c.sigs[0])) {
				t.Errorf("stderr does not say it was interrupted: %s", p.stderr.String())
			}
			if c.name == "decode" && fileExists(filepath.Join(p.mark, "debugfs.pids")) {
				t.Error("the signal came after decoding: the decode phase was not tested")
			}
			assertClean(t, "output directory", out)
			assertClean(t, "TMPDIR", p.tmp)
			if c.slow != "" {
				if strings.HasPrefix(c.name, "stuck tool") {
					// Only the tool itself: the escaped sleep is
					// beyond any process group.
					pids := p.toolPids(t)
					if running(pids[0]) {
						t.Errorf("tool %d still runs", pids[0])
					}
				} else {
					p.assertToolsGone(t)
				}
			}
		})
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// waitForTemp waits for the temp file of output name (or of any output)
// in out.
func waitForTemp(t *testing.T, p *bakeProc, out, name string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir(out)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), atomicfile.TempPrefix) && (name == "" || atomicfile.FinalName(e.Name()) == name) {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("bake-os ended before writing: %s", p.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("no temp file for %q appeared", name)
}

// TestKilledAndConcurrentRuns: while a run works, a second run into the
// same directory is refused naming the first's pid; the first is then
// killed with SIGKILL (its temp files stay, its tool dies with it), and
// the next run removes them and succeeds.
func TestKilledAndConcurrentRuns(t *testing.T) {
	f := lifecycleFixture(t)
	wrappers := slowTools(t, "debugfs")
	out := filepath.Join(t.TempDir(), "out")
	first := startBake(t, f.dir, wrappers, "debugfs", nil, "--image", f.image, "--output-dir", out, "ext:"+f.ext)
	first.waitFor(t, "debugfs")

	second := startBake(t, f.dir, wrappers, "", nil, "--image", f.image, "--output-dir", out, "--force", "ext:"+f.ext)
	code, took := second.wait(t, time.Now())
	want := fmt.Sprintf("another bake-os run (pid %d) is writing into %s", first.cmd.Process.Pid, out)
	if code != exitFailure || !strings.Contains(second.stderr.String(), want) {
		t.Errorf("second run: exit %d after %v: %s", code, took, second.stderr.String())
	}
	if fileExists(filepath.Join(second.mark, "debugfs.pids")) {
		t.Error("the refused run started work")
	}

	code, _ = first.signalAndWait(t, syscall.SIGKILL)
	if code != -1 {
		t.Fatalf("first run: exit %d, want killed", code)
	}
	// The killed run's tool dies with it; its sleep is an orphan the
	// cleanup kills.
	if pids := first.toolPids(t); len(pids) == 0 || stillRunning(pids[0]) {
		t.Errorf("debugfs of the killed run still runs")
	}
	var stale []string
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), atomicfile.TempPrefix+strconv.Itoa(first.cmd.Process.Pid)+"-") {
			stale = append(stale, e.Name())
		}
	}
	if len(stale) == 0 {
		t.Fatalf("the killed run left no temp file (%v): nothing to test", ents)
	}

	third := startBake(t, f.dir, wrappers, "", nil, "--image", f.image, "--output-dir", out, "ext:"+f.ext)
	if code, _ := third.wait(t, time.Now()); code != 0 {
		t.Fatalf("run after the kill: exit %d: %s", code, third.stderr.String())
	}
	assertClean(t, "output directory", out, "flatcar_production_image.bin")
}

// stillRunning reports whether pid still runs after up to 5 s.
func stillRunning(pid int) bool {
	for i := 0; i < 250 && running(pid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	return running(pid)
}

// TestKilledRunStaleTemps: a run killed with SIGKILL while debugfs
// writes from its ext4 spool leaves the spool in TMPDIR, where no output
// directory lock sweeps it. The next run leaves it while it is fresh
// (another PID namespace's live run looks dead too) and removes it,
// saying so at debug level, once it is older than atomicfile.StaleAge.
func TestKilledRunStaleTemps(t *testing.T) {
	f := lifecycleFixture(t)
	// A sysupdate config makes the bake write noop.conf from memory:
	// spooled.
	cwd := t.TempDir()
	if err := os.Symlink(f.ext, filepath.Join(cwd, "ext.raw")); err != nil {
		t.Fatal(err)
	}
	conf := "[Transfer]\nVerify=false\n\n[Source]\nType=url-file\nPath=https://extensions.example.org/ext/\nMatchPattern=ext-@v-%a.raw\n\n" +
		"[Target]\nInstancesMax=3\nType=regular-file\nPath=/opt/extensions/ext\nCurrentSymlink=/etc/extensions/ext.raw\n"
	if err := os.WriteFile(filepath.Join(cwd, "ext.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// debugfs waits once the spool exists, so the kill finds it.
	real, err := exec.LookPath("debugfs")
	if err != nil {
		t.Fatal(err)
	}
	wrappers := t.TempDir()
	script := fmt.Sprintf(`#!/bin/sh
echo $$ >> "$BAKE_TEST_MARK/debugfs.pids"
for d in "$TMPDIR"/%s*-ext4-spool; do
	if [ -d "$d" ] && [ "$BAKE_TEST_SLOW" = debugfs ]; then
		sleep 60 &
		echo $! >> "$BAKE_TEST_MARK/debugfs.pids"
		touch "$BAKE_TEST_MARK/debugfs.started"
		wait
	fi
done
exec %s "$@"
`, atomicfile.TempPrefix, real)
	if err := os.WriteFile(filepath.Join(wrappers, "debugfs"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	env := []string{"TMPDIR=" + tmp}
	out := filepath.Join(t.TempDir(), "out")
	first := startBake(t, cwd, wrappers, "debugfs", env, "--image", f.image, "--output-dir", out, "ext:ext.raw")
	first.waitFor(t, "debugfs")
	if code, _ := first.signalAndWait(t, syscall.SIGKILL); code != -1 {
		t.Fatalf("first run: exit %d, want killed", code)
	}
	mine := atomicfile.TempPrefix + strconv.Itoa(first.cmd.Process.Pid) + "-"
	var stale []string
	spool := false
	ents, _ := os.ReadDir(tmp)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), mine) {
			stale = append(stale, e.Name())
			spool = spool || atomicfile.FinalName(e.Name()) == "ext4-spool"
		}
	}
	t.Logf("left in TMPDIR by the killed run: %v", stale)
	if !spool {
		t.Fatalf("the killed run left no ext4 spool in TMPDIR (%v): nothing to test", ents)
	}

	next := func() string {
		p := startBake(t, cwd, wrappers, "", env, "-v", "version")
		if code, _ := p.wait(t, time.Now()); code != 0 {
			t.Fatalf("version: exit %d: %s", code, p.stderr.String())
		}
		return p.stderr.String()
	}
	next()
	for _, n := range stale {
		if !fileExists(filepath.Join(tmp, n)) {
			t.Errorf("%s was removed while fresh", n)
		}
	}
	old := time.Now().Add(-atomicfile.StaleAge - time.Minute)
	for _, n := range stale {
		if err := os.Chtimes(filepath.Join(tmp, n), old, old); err != nil {
			t.Fatal(err)
		}
	}
	logs := next()
	assertClean(t, "TMPDIR", tmp)
	for _, n := range stale {
		if !strings.Contains(logs, "removed a temporary file of a killed run (path="+filepath.Join(tmp, n)) {
			t.Errorf("no debug line for %s: %s", n, logs)
		}
	}
}
