package main

import (
	"bufio"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/resonate/resonate-chat/tests/internal/spawn"
)

// metrics reads the named gauges from the server's /metrics.
func metrics(s *spawn.Server, names ...string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for _, n := range names {
			if name == n {
				out[n], _ = strconv.ParseFloat(val, 64)
			}
		}
	}
	return out
}

// walBytes is the size of the SQLite write-ahead log, 0 when there is none.
func walBytes(s *spawn.Server) int64 {
	fi, err := os.Stat(s.DB + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
}
