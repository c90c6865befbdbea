package servicetest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; it is 100
// on every Linux architecture Go supports.
const clockTicks = 100

// CPU is the processor time, in seconds, used so far by the processes of this machine,
// grouped by what they are: "postgres", "redis", "minio", "wrk", "self" (this test
// process) and "other". A benchmark takes one before and one after its timed section;
// Since then tells where the CPU went, which stays meaningful on a busy machine where
// wall-clock rates do not. Processes that exit in between are not counted.
type CPU map[string]float64

// ReadCPU reads /proc. On a system without it, the result is empty.
func ReadCPU() CPU { return ReadCPUOf(nil) }

// ReadCPUOf is ReadCPU with the processes in own counted under the group named
// there, e.g. the PostgreSQL backends serving one test ("postgres-mine"; the
// other backends stay in "postgres").
func ReadCPUOf(own map[int]string) CPU {
	cpu := CPU{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	self := strconv.Itoa(os.Getpid())
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		s := string(raw)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseFloat(fields[11], 64)
		stime, _ := strconv.ParseFloat(fields[12], 64)
		g := group(filepath.Base(d) == self, s[open+1:closing])
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil && own[pid] != "" {
			g = own[pid]
		}
		cpu[g] += (utime + stime) / clockTicks
	}
	return cpu
}

func group(self bool, comm string) string {
	switch {
	case self:
		return "self"
	case strings.HasPrefix(comm, "postgres"):
		return "postgres"
	case strings.HasPrefix(comm, "redis"):
		return "redis"
	case strings.HasPrefix(comm, "minio"):
		return "minio"
	case comm == "wrk":
		return "wrk"
	}
	return "other"
}

// Since returns the CPU seconds each group used from c to now.
func (c CPU) Since() CPU { return c.SinceOf(nil) }

// SinceOf is Since with own as in ReadCPUOf.
func (c CPU) SinceOf(own map[int]string) CPU {
	d := CPU{}
	for k, v := range ReadCPUOf(own) {
		if u := v - c[k]; u > 0 {
			d[k] = u
		}
	}
	return d
}

// Report adds one "<group>-cpu-ms/op" metric per group (and "total-cpu-ms/op") to b,
// for ops operations, leaving out "other" (unrelated processes on a shared machine).
// When the groups include "postgres-mine", the total counts it instead of all of
// "postgres", which then includes other tests' backends.
func (c CPU) Report(b *testing.B, ops int) {
	if ops <= 0 {
		return
	}
	total := 0.0
	_, mine := c["postgres-mine"]
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if k == "other" {
			continue
		}
		if k != "postgres" || !mine {
			total += c[k]
		}
		b.ReportMetric(c[k]*1000/float64(ops), k+"-cpu-ms/op")
	}
	b.ReportMetric(total*1000/float64(ops), "total-cpu-ms/op")
}

// String lists the groups as "postgres 1.20s, self 3.40s".
func (c CPU) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s %.2fs", k, c[k]))
	}
	return strings.Join(parts, ", ")
}
