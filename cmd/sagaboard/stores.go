package main

import "github.com/sagaboard/sagaboard/services/store"

// storeConfig says where this process's parts keep their state.
func (m *Main) storeConfig() store.Config {
	return store.Config{URL: m.Config.Store, Data: m.Config.Data}
}
