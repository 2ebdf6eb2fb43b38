// Command rclone is rclone with only what the tests need: the S3 and local backends and the
// copy, copyto, lsjson, mkdir and version commands. Pods run the official rclone image at the same version
// (RCLONE_VERSION in ci/versions.env); this build only keeps the cold `make setup` short.
package main

import (
	_ "github.com/rclone/rclone/backend/local"
	_ "github.com/rclone/rclone/backend/s3"
	"github.com/rclone/rclone/cmd"
	_ "github.com/rclone/rclone/cmd/copy"
	_ "github.com/rclone/rclone/cmd/copyto"
	_ "github.com/rclone/rclone/cmd/lsjson"
	_ "github.com/rclone/rclone/cmd/mkdir"
	_ "github.com/rclone/rclone/cmd/version"
)

func main() { cmd.Main() }
