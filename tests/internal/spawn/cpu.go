package spawn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// cpuGroup is a cgroup that lets its processes use at most a given number of
// cores: a node with a machine of its own, modelled on a shared one, so that
// what one node more adds can be measured where every process shares the
// same cores.
type cpuGroup struct{ dir string }

// cfsPeriod is the scheduler's accounting period for the quota, in µs.
const cfsPeriod = 100000

// newCPUGroup makes a cgroup allowed cores of CPU time, with cgroup v2's
// cpu.max or v1's cfs quota, whichever this machine has.
func newCPUGroup(name string, cores float64) (*cpuGroup, error) {
	quota := int(cores * cfsPeriod)
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/cpu"} {
		dir := filepath.Join(root, name)
		v2 := root == "/sys/fs/cgroup"
		if v2 {
			if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
				continue
			}
		} else if _, err := os.Stat(filepath.Join(root, "cpu.cfs_quota_us")); err != nil {
			continue
		}
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			return nil, err
		}
		var err error
		if v2 {
			err = os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(fmt.Sprintf("%d %d", quota, cfsPeriod)), 0o644)
		} else {
			err = errors.Join(os.WriteFile(filepath.Join(dir, "cpu.cfs_period_us"), []byte(strconv.Itoa(cfsPeriod)), 0o644),
				os.WriteFile(filepath.Join(dir, "cpu.cfs_quota_us"), []byte(strconv.Itoa(quota)), 0o644))
		}
		if err != nil {
			os.Remove(dir)
			return nil, err
		}
		return &cpuGroup{dir: dir}, nil
	}
	return nil, fmt.Errorf("no writable cgroup cpu controller: a CPU limit needs Linux and root")
}

// wrap runs bin inside the group: a shell moves itself in, then becomes bin,
// so the server's every thread is limited from its first instruction (Go
// reads the limit at start to size GOMAXPROCS).
func (g *cpuGroup) wrap(bin string) (string, []string) {
	return "/bin/sh", []string{"-c", `echo $$ > "$0/cgroup.procs" && exec "$1"`, g.dir, bin}
}

// remove deletes the group once its processes have exited.
func (g *cpuGroup) remove() { os.Remove(g.dir) }
