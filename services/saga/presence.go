package saga

import "time"

// TypePresence is sent by every process now and then, and at once when
// one of its parts connects or moves to another node, on the control
// exchange with KeyHello (which every part may send): which parts it runs
// and which broker node each is on, so a dashboard can say where each
// process of a split deployment is. It changes nothing; a dashboard only
// shows it.
const TypePresence = "Presence"

// PresenceEvery is how often a process says it is there. A dashboard
// forgets a process it has not heard for three times as long.
const PresenceEvery = 5 * time.Second

// Presence is what TypePresence carries.
type Presence struct {
	// Process tells one process from another: a fresh id at each start.
	Process string `json:"process"`
	// Parts are the parts the process runs.
	Parts []string `json:"parts"`
	// Nodes is the broker node each part's connection is on, host:port,
	// "" while it is on none. Where each part is its own broker user, each
	// has a connection of its own, and they may be on different nodes.
	Nodes map[string]string `json:"nodes"`
}
