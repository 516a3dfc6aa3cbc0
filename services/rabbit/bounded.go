package rabbit

import (
	"bytes"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/sagaboard/sagaboard/services/saga"
)

// keptPrefix is how much of an oversized body is kept: enough for a dead
// letter's "first 4 KiB", little enough that a queue full of multi-megabyte
// messages costs a few KiB each once read.
const keptPrefix = 4 << 10

// delivery is a delivery as the consumer holds it: its body bounded, and the
// length it arrived with.
type delivery struct {
	amqp.Delivery
	size int
}

// bound keeps only a copy of the first keptPrefix bytes of a body over
// saga.MaxBodyBytes, so the big array becomes garbage as soon as it is read,
// not when its batch is settled. Such a message can never be handled; the
// prefix is what its dead letter shows, and size what its reason says.
func bound(d amqp.Delivery) delivery {
	n := len(d.Body)
	if n > saga.MaxBodyBytes {
		d.Body = bytes.Clone(d.Body[:keptPrefix])
	}
	return delivery{Delivery: d, size: n}
}

// bounded is a channel's deliveries, read as soon as they arrive and bounded.
type bounded struct {
	c    chan delivery
	quit chan struct{}
	done chan struct{}
}

// readBounded reads deliveries as they arrive, whatever the batch in hand is
// doing, and hands them on bounded. amqp091-go keeps what the consumer has
// not read yet in a buffer unbounded in bytes, each body whole (its
// consumers.buffer), so while a batch was handled and acked, up to the
// prefetch of multi-megabyte messages sat there: 100 messages of 4 MB took
// the process's peak to 1.6 GB even with bound. Read at once, each costs at
// most saga.MaxBodyBytes. The prefetch bounds how many are unacked, so c, as
// big as the prefetch, has room for every one. It also lets a batch take
// what has arrived: amqp091-go hands deliveries over an unbuffered channel,
// so the non-blocking reads that fill a batch often found nothing.
func readBounded(deliveries <-chan amqp.Delivery, prefetch int) *bounded {
	r := &bounded{c: make(chan delivery, prefetch), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer close(r.c)
		for {
			select {
			case d, ok := <-deliveries:
				if !ok {
					return
				}
				select {
				case r.c <- bound(d):
				case <-r.quit:
					return
				}
			case <-r.quit:
				return
			}
		}
	}()
	return r
}

// stop ends the reader and waits for it. What it has not handed on goes
// back to the broker with the channel, as unacked.
func (r *bounded) stop() {
	close(r.quit)
	<-r.done
}

// message turns a bounded delivery into a saga.Message.
func (d delivery) message(queue string) saga.Message {
	m := message(queue, d.Delivery)
	m.Size = d.size
	return m
}
