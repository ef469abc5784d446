//go:build tools

// Package tools pins the main packages built from this wrapper module.
package tools

import (
	_ "github.com/sigstore/cosign/v3/cmd/cosign"
)
