package web

import "net/http"

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, r, http.StatusNotImplemented, "the OpenAPI document is not written yet")
}
