package main

import (
	"os"
	"path/filepath"
	"strconv"
)

func absPath(cwd, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(cwd, p)
}

// sourceDateEpoch returns $SOURCE_DATE_EPOCH, or 0 when unset or invalid.
func sourceDateEpoch() int64 {
	n, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
