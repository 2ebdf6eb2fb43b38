//go:build tools

// Package tools pins the helm-unittest command for `go build` in this helper module.
package tools

import _ "github.com/helm-unittest/helm-unittest/cmd/helm-unittest"
