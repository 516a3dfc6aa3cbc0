package ws_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/sagaboard/sagaboard/web/ws"
)

// A hub serves one topic per page. A client that joins is told so on
// Joined; the publisher welcomes it with a snapshot, and every Broadcast
// after that reaches it as a delta, in order.
func Example() {
	hub := ws.New(ws.Options{})
	defer hub.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.Serve(w, r, "dashboard")
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.CloseNow()

	<-hub.Joined()
	hub.Welcome(func(topic string) []byte { return []byte("snapshot of " + topic) })
	hub.Broadcast("dashboard", []byte("delta 1"))
	for range 2 {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(msg))
	}
	// Output:
	// snapshot of dashboard
	// delta 1
}
