package sysextbuild

import "context"

func writeErofs(ctx context.Context, j *packJob) error { return nil }
func writeExt(ctx context.Context, j *packJob) error   { return nil }
func writeBtrfs(ctx context.Context, j *packJob) error { return nil }
