package sysextbuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bake-os/bake-os/internal/atomicfile"
)

// BuildAndPack builds a tree with build and packs it as extension
// name. The tree is built in a temporary directory beside the output and
// removed afterwards, unless keep: then it stays as NAME beside the output
// (which must not exist yet).
func BuildAndPack(ctx context.Context, name string, keep bool, pack PackOptions, build func(dst string) error) (*PackResult, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	pack.Name = name
	if pack.Output == "" {
		pack.Output = filepath.Join(pack.OutputDir, name+".raw")
	}
	outDir := filepath.Dir(pack.Output)
	var dst string
	if keep {
		dst = filepath.Join(outDir, name)
		if _, err := os.Lstat(dst); err == nil {
			return nil, fmt.Errorf("tree directory %s already exists: remove it or drop the keep option", dst)
		}
	} else {
		tmp, err := atomicfile.MkdirTemp(outDir, name+".tree")
		if err != nil {
			return nil, fmt.Errorf("creating temporary tree directory: %w", err)
		}
		defer atomicfile.Remove(tmp)
		dst = filepath.Join(tmp, name)
	}
	if err := build(dst); err != nil {
		if keep {
			_ = os.RemoveAll(dst)
		}
		return nil, err
	}
	pack.Dir = dst
	res, err := Pack(ctx, pack)
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", name, err)
	}
	return res, nil
}
