package provision_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bake-os/bake-os/provision"
)

const qemuGrub = "# Flatcar GRUB settings\n\nset oem_id=\"qemu\"\nset linux_append=\"flatcar.autologin\"\n"

func TestEditKernelArgs(t *testing.T) {
	e, err := provision.EditKernelArgs(qemuGrub, []string{"console=ttyS0", "flatcar.autologin", "quiet"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.Config, qemuGrub) || !slices.Equal(e.Added, []string{"console=ttyS0", "quiet"}) {
		t.Fatalf("config %q, added %v", e.Config, e.Added)
	}
	if want := []string{"flatcar.autologin", "console=ttyS0", "quiet"}; !slices.Equal(e.Effective, want) {
		t.Errorf("effective %v, want %v", e.Effective, want)
	}
	// Again: nothing changes, byte for byte.
	again, err := provision.EditKernelArgs(e.Config, []string{"quiet", "console=ttyS0"}, nil)
	if err != nil || again.Changed || again.Config != e.Config || len(again.Added) != 0 {
		t.Fatalf("second edit changed %q -> %q (%v)", e.Config, again.Config, err)
	}
	// More args go onto the same line.
	more, _ := provision.EditKernelArgs(e.Config, []string{"mitigations=off"}, nil)
	if strings.Count(more.Config, "set linux_append=\"$linux_append") != 1 || !strings.Contains(more.Config, "console=ttyS0 quiet mitigations=off\"") {
		t.Errorf("more: %q", more.Config)
	}
	// Removal by name and by exact word, on every line; the managed line
	// emptied goes, with its marker.
	rm, _ := provision.EditKernelArgs(more.Config, nil, []string{"console", "quiet", "mitigations=off", "flatcar.autologin"})
	if len(rm.Effective) != 0 || strings.Contains(rm.Config, "bake-os") || !strings.Contains(rm.Config, "set oem_id=\"qemu\"\nset linux_append=\"\"\n") {
		t.Errorf("removed: %q (effective %v)", rm.Config, rm.Effective)
	}
	if !slices.Equal(rm.Removed, []string{"flatcar.autologin", "console=ttyS0", "quiet", "mitigations=off"}) {
		t.Errorf("removed %v", rm.Removed)
	}
}

func TestKernelArgsEvaluation(t *testing.T) {
	cfg := "set linux_append=\"a b\"\nif [ x = x ]; then\n  set linux_append=\"$linux_append c\"\nfi\nset linux_append='$linux_append'\nset linux_append=\"${linux_append} d\"\n"
	if got := provision.KernelArgs(cfg); !slices.Equal(got, []string{"$linux_append", "d"}) {
		t.Errorf("single quotes do not expand: %v", got)
	}
	// A later plain set overrides the managed line: it moves to the end.
	e, _ := provision.EditKernelArgs("set linux_append=\"$linux_append x\"\n", []string{"y"}, nil)
	e, _ = provision.EditKernelArgs(e.Config+"set linux_append=\"z\"\n", []string{"y"}, nil)
	if !slices.Equal(e.Effective, []string{"z", "x", "y"}) && !slices.Equal(e.Effective, []string{"z", "y"}) {
		t.Errorf("effective %v of %q", e.Effective, e.Config)
	}
	if !strings.HasSuffix(e.Config, "set linux_append=\"$linux_append y\"\n") {
		t.Errorf("managed line not last: %q", e.Config)
	}
	// No file yet, no newline at the end.
	e, _ = provision.EditKernelArgs("", []string{"a"}, nil)
	if !slices.Equal(e.Effective, []string{"a"}) {
		t.Errorf("new file %q", e.Config)
	}
	e, _ = provision.EditKernelArgs("set oem_id=\"x\"", []string{"a"}, nil)
	if !strings.HasPrefix(e.Config, "set oem_id=\"x\"\n#") {
		t.Errorf("no final newline: %q", e.Config)
	}
	if got := provision.ManagedKernelArgs(e.Config); !slices.Equal(got, []string{"a"}) {
		t.Errorf("managed %v", got)
	}
}

func TestCheckKernelArg(t *testing.T) {
	for _, bad := range []string{"", "a b", "a\"b", "a'b", "$x", "a\\b", "a;b", "a\nb", "a\tb"} {
		if err := provision.CheckKernelArg(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"console=ttyS0,115200n8", "flatcar.autologin", "ignition.config.url=https://x/y?a=b&c", "a{b}#"} {
		if err := provision.CheckKernelArg(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	if _, err := provision.EditKernelArgs("", []string{"console=ttyS0"}, []string{"console"}); err == nil {
		t.Error("add and remove of one argument accepted")
	}
}

// FuzzEditKernelArgs: on any grub.cfg, adding an argument never panics,
// puts it on the command line, keeps every line that is not a
// linux_append line, and a second run changes nothing.
func FuzzEditKernelArgs(f *testing.F) {
	for _, seed := range []string{"", qemuGrub, "set linux_append=\"$linux_append\"\n", "set linux_append='a b'\nset linux_append=x\n",
		"# Kernel arguments added by bake-os (--kernel-arg)\nset linux_append=\"$linux_append q\"\nset linux_append=\"z\"\n",
		"if true; then\n\tset linux_append=\"${linux_append} a\"\nfi", "set linux_append=\"a\" # c\r\n"} {
		f.Add(seed, "quiet")
	}
	f.Fuzz(func(t *testing.T, cfg, arg string) {
		if provision.CheckKernelArg(arg) != nil {
			return
		}
		e, err := provision.EditKernelArgs(cfg, []string{arg}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(e.Effective, arg) {
			t.Fatalf("%q not in %v of %q", arg, e.Effective, e.Config)
		}
		for _, l := range strings.SplitAfter(cfg, "\n") {
			if l != "" && !strings.Contains(l, "linux_append") && !strings.Contains(e.Config, strings.TrimSuffix(l, "\n")) {
				t.Fatalf("line %q lost: %q", l, e.Config)
			}
		}
		again, err := provision.EditKernelArgs(e.Config, []string{arg}, nil)
		if err != nil || again.Changed || again.Config != e.Config {
			t.Fatalf("second run changed %q to %q (%v)", e.Config, again.Config, err)
		}
	})
}

// TestKernelArgNonASCII (found by FuzzEditKernelArgs): U+00A0 is white
// space to the parser of grub.cfg lines; an argument holding it (or any
// byte outside printable ASCII) is refused rather than baked and lost.
func TestKernelArgNonASCII(t *testing.T) {
	for _, a := range []string{"\u00a0", "a\u00a0b", "console=tty\u00e90"} {
		if err := provision.CheckKernelArg(a); err == nil {
			t.Errorf("%q accepted", a)
		}
	}
	if err := provision.CheckKernelArg("console=ttyS0,115200n8"); err != nil {
		t.Error(err)
	}
}
