.PHONY: demo test build
demo:
	scripts/demo.sh
test:
	scripts/test.sh
build:
	CGO_ENABLED=0 go build -trimpath -o bake-os ./cmd/bake-os
