package web

import (
	"net/http"
	"net/http/pprof"

	"github.com/sagaboard/sagaboard/web/guard"
)

// Profiler is Go's profiler for a listener of its own at addr (-pprof),
// behind the same Host check as the dashboard, so a rebound name cannot
// read the process's memory either. It answers to loopback names and
// addr's host only: the profiler is never meant to be reached through a
// proxy, so -allowed-hosts does not apply to it.
//
// It leaves out /debug/pprof/cmdline: the command line holds the token
// and the broker's URL with its password. That path is answered 404 here
// explicitly, since the index would otherwise look it up as a profile.
func Profiler(addr string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the command line is not served: it holds the token and the broker's password", http.StatusNotFound)
	})
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return guard.NewHosts(addr, nil).Guard(mux)
}
