// Command etcd is upstream's etcd server: go.etcd.io/etcd/server/v3 ships no main package, so
// this wrapper does what etcd's own main.go does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
