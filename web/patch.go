package web

import "net/http"

func (s *Server) updateTask(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, r, http.StatusNotImplemented, "PATCH of a task is not implemented yet")
}

func (s *Server) updateStep(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, r, http.StatusNotImplemented, "PATCH of a step is not implemented yet")
}
