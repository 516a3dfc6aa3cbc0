package ui

import "github.com/sagaboard/sagaboard/web/ws"

// HubStats returns the live feed's WebSocket counts, for /metrics.
func (l *Live) HubStats() ws.Stats { return l.hub.Stats() }
