package bake_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/bake"
	"github.com/bake-os/bake-os/internal/testutil"
	"github.com/bake-os/bake-os/testimage"
	"github.com/bake-os/bake-os/vendors"
)

// An image's OEM grub.cfg as a vendor left it, with a line of its own.
const plantedGrub = "# vendor settings\nset oem_id=\"qemu\"\nset linux_append=\"flatcar.autologin\"\n\nif [ \"$grub_platform\" = pc ]; then\n  set linux_console=\"console=ttyS0\"\nfi\n"

// TestBakeKernelArgsAndSysupdate bakes kernel arguments into an existing
// OEM grub.cfg and sets up automatic updates; reads both back with btrfs
// restore and debugfs, re-bakes the result with the same flags (nothing
// doubles, grub.cfg stays byte for byte) and then removes arguments.
func TestBakeKernelArgsAndSysupdate(t *testing.T) {
	f := newFixture(t, testimage.Options{OEMFiles: map[string]string{"grub.cfg": plantedGrub}})
	f.sysext(t, "wasmtime-24.0.0-x86-64.raw", "wasmtime", flatcarRelease)
	os.WriteFile(filepath.Join(f.dir, "wasmtime.conf"), []byte(wasmConf), 0o644)
	f.sysext(t, "plain.raw", "plain", flatcarRelease)
	sysexts, err := bake.ParseSysextArgs([]string{"wasmtime:wasmtime-24.0.0-x86-64.raw", "plain:plain.raw"}, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := bake.Options{Image: f.image, OutputDir: f.out, Sysexts: sysexts, Sysupdate: true,
		KernelArgs: []string{"console=ttyS1,115200n8", "flatcar.autologin", "quiet"}}
	var logBuf bytes.Buffer
	o.Logger = slog.New(msgHandler{&logBuf})
	res, err := bake.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Logger = nil
	out := filepath.Join(f.out, bake.ImageName)
	judge(t, f.image, out)
	grub, err := os.ReadFile(filepath.Join(btrfsRestore(t, out), "grub.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	wantGrub := plantedGrub + "# Kernel arguments added by bake-os (--kernel-arg)\nset linux_append=\"$linux_append console=ttyS1,115200n8 quiet\"\n"
	if string(grub) != wantGrub {
		t.Errorf("OEM grub.cfg =\n%s\nwant\n%s", grub, wantGrub)
	}
	effective := []string{"flatcar.autologin", "console=ttyS1,115200n8", "quiet"}
	if res.KernelArgs == nil || !slices.Equal(res.KernelArgs.Effective, effective) || !slices.Equal(res.KernelArgs.Added, []string{"console=ttyS1,115200n8", "quiet"}) {
		t.Errorf("result %+v", res.KernelArgs)
	}
	in, err := bake.Inspect(ctx, out)
	if err != nil || !slices.Equal(in.KernelArgs, effective) {
		t.Errorf("inspect kernel args %v (%v)", in.KernelArgs, err)
	}

	// Automatic updates, read back with debugfs.
	if st := debugfsStat(t, out, "/etc/systemd/system/timers.target.wants/systemd-sysupdate.timer"); st.typ != "symlink" || st.link != "/usr/lib/systemd/system/systemd-sysupdate.timer" {
		t.Errorf("timer link %+v", st)
	}
	dropins := map[string]string{
		"/etc/systemd/system/systemd-sysupdate.service.d/wasmtime.conf": "[Service]\nExecStartPre=/usr/lib/systemd/systemd-sysupdate -C wasmtime update\n",
		"/etc/systemd/system/systemd-sysupdate.service.d/sysext.conf":   "[Service]\nExecStartPost=systemctl restart systemd-sysext\n",
	}
	for p, want := range dropins {
		if got := string(debugfsCat(t, out, p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
		if st := debugfsStat(t, out, p); st.typ != "regular" || st.mode != "0644" || st.uid != "0" {
			t.Errorf("%s: %+v", p, st)
		}
	}
	if got := string(debugfsCat(t, out, "/etc/systemd/system/systemd-sysupdate.service.d/plain.conf")); got != "" {
		t.Errorf("a drop-in for plain, which has no sysupdate config: %q", got)
	}
	if !strings.Contains(string(debugfsCat(t, out, "/etc/sysupdate.d/noop.conf")), "invalid@v.raw") {
		t.Error("no noop.conf")
	}
	for _, p := range []string{"/etc/systemd/system/timers.target.wants/systemd-sysupdate.timer", "/etc/systemd/system/systemd-sysupdate.service.d/wasmtime.conf", "/etc/systemd/system/systemd-sysupdate.service.d/sysext.conf"} {
		if !hasWritten(res, "ROOT", p) {
			t.Errorf("written lacks %s", p)
		}
	}
	if !hasWritten(res, "OEM", "/grub.cfg") {
		t.Error("written lacks OEM /grub.cfg")
	}
	checkResetKeep(t, res)
	checkResetLine(t, logBuf.String(), res.ResetKeepPaths)

	// Baked again with the same flags: the same grub.cfg, not rewritten.
	in2 := filepath.Join(f.dir, "in2", bake.ImageName)
	os.MkdirAll(filepath.Dir(in2), 0o755)
	if err := os.Rename(out, in2); err != nil {
		t.Fatal(err)
	}
	o.Image = in2
	res, err = bake.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(btrfsRestore(t, out), "grub.cfg")); string(again) != wantGrub || hasWritten(res, "OEM", "/grub.cfg") {
		t.Errorf("re-bake changed grub.cfg:\n%s", again)
	}
	testutil.Run(t, "e2fsck", "-fn", rootSpec(out))
	if got := string(debugfsCat(t, out, "/etc/systemd/system/systemd-sysupdate.service.d/wasmtime.conf")); got != dropins["/etc/systemd/system/systemd-sysupdate.service.d/wasmtime.conf"] {
		t.Errorf("re-baked drop-in %q", got)
	}

	// Removing: a bare name drops NAME=..., the vendor's argument goes too.
	if err := os.Rename(out, in2); err != nil {
		t.Fatal(err)
	}
	// wasmtime baked again without --sysupdate: its drop-in goes.
	res, err = bake.Run(ctx, bake.Options{Image: in2, OutputDir: f.out, Sysexts: sysexts, KernelArgsRemove: []string{"console", "quiet", "flatcar.autologin"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(debugfsCat(t, out, "/etc/systemd/system/systemd-sysupdate.service.d/wasmtime.conf")); got != "" {
		t.Errorf("the replaced wasmtime's drop-in stayed: %q", got)
	}
	removed := ""
	for _, r := range res.Replaced {
		removed += strings.Join(r.Removed, " ") + " "
	}
	if !strings.Contains(removed, "ROOT:/etc/systemd/system/systemd-sysupdate.service.d/wasmtime.conf") {
		t.Errorf("replaced %+v", res.Replaced)
	}
	testutil.Run(t, "e2fsck", "-fn", rootSpec(out))
	grub, _ = os.ReadFile(filepath.Join(btrfsRestore(t, out), "grub.cfg"))
	wantGrub = strings.Replace(plantedGrub, "\"flatcar.autologin\"", "\"\"", 1)
	if string(grub) != wantGrub || len(res.KernelArgs.Effective) != 0 {
		t.Errorf("after removal grub.cfg =\n%s\nresult %+v", grub, res.KernelArgs)
	}
	btrfsCheck(t, out, "OEM")
}

// checkResetKeep matches the reset keep paths the way flatcar-reset and
// the initrd do (each REGEX and REGEX/.* joined, egrep against whole
// paths): every ROOT path the bake wrote is kept, nothing else.
func checkResetKeep(t *testing.T, res *bake.Result) {
	t.Helper()
	if len(res.ResetKeepPaths) == 0 {
		t.Fatal("no reset_keep_paths")
	}
	var alts []string
	for _, k := range res.ResetKeepPaths {
		alts = append(alts, k, k+"/.*")
	}
	re := regexp.MustCompilePOSIX("^(" + strings.Join(alts, "|") + ")$")
	var rootPaths []string
	for _, w := range res.Written {
		if w.Partition == "ROOT" {
			rootPaths = append(rootPaths, w.Path)
			if !re.MatchString(w.Path) {
				t.Errorf("reset keep paths miss %s", w.Path)
			}
		}
	}
	others := []string{"/etc/extensions", "/etc/extensions/other.raw", "/etc/extensions/wasmtimeXraw", "/etc/systemd/system/systemd-sysupdate.service.d/other.conf",
		"/etc/sysupdate.wasmtime.d/other.conf", "/etc/ssh/ssh_host_rsa_key", "/opt/extensions/wasmtime", "/var/lib/docker", "/etc/systemd/system/timers.target.wants/other.timer"}
	for _, p := range others {
		if re.MatchString(p) {
			t.Errorf("reset keep paths also keep %s", p)
		}
	}
	// GNU grep -E -x, egrep as the initrd's find uses it, agrees.
	cmd := exec.Command("grep", "-Ex", "("+strings.Join(alts, "|")+")")
	cmd.Stdin = strings.NewReader(strings.Join(append(slices.Clone(rootPaths), others...), "\n") + "\n")
	out, _ := cmd.Output()
	if got := strings.Fields(string(out)); !slices.Equal(got, rootPaths) {
		t.Errorf("grep -Ex keeps %v, want %v", got, rootPaths)
	}
}

// checkResetLine: the logged command, read by bash, passes exactly the
// reset keep paths to flatcar-reset.
func checkResetLine(t *testing.T, log string, keep []string) {
	t.Helper()
	_, cmdline, ok := strings.Cut(log, "across flatcar-reset: ")
	cmdline, _, _ = strings.Cut(cmdline, "\n")
	if !ok || !strings.HasPrefix(cmdline, "flatcar-reset --keep-paths '") {
		t.Fatalf("no flatcar-reset line in the log:\n%s", log)
	}
	out, err := exec.Command("bash", "-c", "flatcar-reset() { shift; printf '%s\\n' \"$@\"; }; "+cmdline).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !slices.Equal(got, keep) {
		t.Errorf("bash reads %q, want %q", got, keep)
	}
}

// TestProvisionRefusals: a bad kernel argument, one both added and
// removed, kernel arguments for live media and --sysupdate without a
// sysupdate config are refused before anything is written.
func TestProvisionRefusals(t *testing.T) {
	f := newFixture(t, testimage.Options{})
	f.sysext(t, "plain.raw", "plain", flatcarRelease)
	plain, _ := bake.ParseSysextArgs([]string{"plain:plain.raw"}, f.dir)
	sx := filepath.Join(f.dir, "sx")
	os.MkdirAll(sx, 0o755)
	if err := testimage.Sysext(context.Background(), filepath.Join(sx, "sysext.raw"), "sysext", flatcarRelease, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sx, "sysext.conf"), []byte(strings.ReplaceAll(wasmConf, "wasmtime", "sysext")), 0o644)
	named, _ := bake.ParseSysextArgs([]string{"sysext:sysext.raw"}, sx)
	// A sysext whose image would be the restart drop-in.
	cl := filepath.Join(f.dir, "cl")
	os.MkdirAll(cl, 0o755)
	if err := testimage.Sysext(context.Background(), filepath.Join(cl, "sysext.conf"), "coll", flatcarRelease, nil); err != nil {
		t.Fatal(err)
	}
	if err := testimage.Sysext(context.Background(), filepath.Join(cl, "wasmtime-24.0.0-x86-64.raw"), "wasmtime", flatcarRelease, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(cl, "wasmtime.conf"), []byte(wasmConf), 0o644)
	coll, _ := bake.ParseSysextArgs([]string{"wasmtime:wasmtime-24.0.0-x86-64.raw", "coll:sysext.conf"}, cl)
	dropDir, err := bake.ParseTarget("root:/etc/systemd/system/systemd-sysupdate.service.d/")
	if err != nil {
		t.Fatal(err)
	}
	iso, err := vendors.Parse([]string{"iso"})
	if err != nil {
		t.Fatal(err)
	}
	usb, err := vendors.Parse([]string{"usb"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		o    bake.Options
		want []string
	}{
		{"quote", bake.Options{KernelArgs: []string{`a"b`}}, []string{`a\"b`, "grub.cfg"}},
		{"dollar", bake.Options{KernelArgsRemove: []string{"$x"}}, []string{`"$x"`}},
		{"both", bake.Options{KernelArgs: []string{"console=ttyS0"}, KernelArgsRemove: []string{"console"}}, []string{"both added and removed"}},
		{"live media", bake.Options{KernelArgsRemove: []string{"quiet"}, Vendors: iso}, []string{"--kernel-arg-remove with --vendor iso", "grub.cfg"}},
		{"usb stick", bake.Options{KernelArgsRemove: []string{"quiet"}, Vendors: usb}, []string{"--kernel-arg-remove with --vendor usb", "grub.cfg"}},
		{"no conf", bake.Options{Sysexts: plain, Sysupdate: true}, []string{"--sysupdate", "no baked sysext has a sysupdate config"}},
		{"named sysext", bake.Options{Sysexts: named, Sysupdate: true}, []string{"sysext sysext", "sysext.conf"}},
		{"collision", bake.Options{Sysexts: coll, Sysupdate: true, Target: dropDir}, []string{"sysext coll's image", "--sysupdate's sysext.conf", "ROOT:/etc/systemd/system/systemd-sysupdate.service.d/sysext.conf"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.Image, c.o.OutputDir = f.image, f.out
			_, err := bake.Run(context.Background(), c.o)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if left := dirEntries(t, f.out); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// msgHandler logs each message as it is, one per line.
type msgHandler struct{ w *bytes.Buffer }

func (h msgHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h msgHandler) Handle(_ context.Context, r slog.Record) error {
	h.w.WriteString(r.Message + "\n")
	return nil
}
func (h msgHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h msgHandler) WithGroup(string) slog.Handler      { return h }
