// Command etcd is the etcd server, built from the module proxy.
//
// `go install go.etcd.io/etcd/v3@vX` is refused because etcd's main module has
// replace directives; this wrapper calls the same entry point as etcd's own main.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
