// Package saga holds sagaboard's domain: the booking, the messages the
// participants exchange, the queue names everybody who knows this saga
// expects, the failure switches, and the narrow interfaces the adapters
// implement. It imports nothing of ours, so every other package can depend on
// it and it depends on none of them.
package saga
