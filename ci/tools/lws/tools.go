//go:build tools

// Package tools pins the LeaderWorkerSet controller command for `go build` in this helper module.
package tools

import _ "sigs.k8s.io/lws/cmd"
