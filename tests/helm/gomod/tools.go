//go:build tools

// Keeps helm's command package in this module's build list (go mod tidy).
package tools

import _ "helm.sh/helm/v3/cmd/helm"
