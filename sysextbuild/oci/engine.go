package oci

// Finding a working container engine (docker, podman): Rootfs with a
// command and the recipes' container builds.

import (
	"context"
	"fmt"
	"strings"

	"github.com/bake-os/bake-os/internal/child"
)

// FindEngine returns the path of the first of names (container engines
// such as docker or podman, tried in order) that is installed and whose
// `NAME info` answers. For each one that does not serve, miss says why
// in the caller's words (installed false: not on PATH; else output is
// what the failed `info` printed); its non-empty answers are tried, in
// order, for the caller's error when path is "".
func FindEngine(ctx context.Context, names []string, miss func(name string, installed bool, output string) string) (path string, tried []string) {
	for _, n := range names {
		p, err := child.LookPath(n)
		if err != nil {
			if m := miss(n, false, ""); m != "" {
				tried = append(tried, m)
			}
			continue
		}
		if out, err := child.Command(ctx, p, "info").CombinedOutput(); err != nil {
			if m := miss(n, true, string(out)); m != "" {
				tried = append(tried, m)
			}
			continue
		}
		return p, nil
	}
	return "", tried
}

// ociEngine finds the first working engine of names (default podman,
// then docker); an installed one whose "info" fails is named with the
// last line it printed.
func ociEngine(ctx context.Context, names []string) (string, error) {
	if len(names) == 0 {
		names = []string{"podman", "docker"}
	}
	p, tried := FindEngine(ctx, names, func(n string, installed bool, out string) string {
		if !installed {
			return ""
		}
		return fmt.Sprintf("%s info failed (is its daemon running?): %s", n, ociLastLine(out))
	})
	switch {
	case p != "":
		return p, nil
	case len(tried) > 0:
		return "", fmt.Errorf("%w; %s", ErrCmdNeedsEngine, strings.Join(tried, "; "))
	}
	return "", ErrCmdNeedsEngine
}

func ociLastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
