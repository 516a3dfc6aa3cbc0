package web

import "net/http"

func (s *Server) pageRoutes(m *http.ServeMux) {}
