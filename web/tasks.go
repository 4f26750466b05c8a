package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
)

func (s *Server) createTask(w http.ResponseWriter, r *http.Request) {
	var req core.TaskRequest
	if err := s.decode(w, r, &req); err != nil {
		writeProblem(w, r, statusOf(err), err.Error())
		return
	}
	if err := prepareTaskRequest(&req); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	req.CorrelationID = CorrelationID(r.Context())
	id, created, err := s.cfg.Tasks.CreateTask(r.Context(), req)
	if err != nil {
		writeProblemDoc(w, s.creationProblem(r, err, ""))
		return
	}
	task, err := s.cfg.Store.GetTask(r.Context(), id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("%s/tasks/%d", s.cfg.Prefix, id))
	status := http.StatusCreated
	if !created {
		// The same identity asked again: the existing task, not a new one.
		status = http.StatusOK
	}
	writeJSON(w, status, task)
}

// prepareTaskRequest checks a decoded creation request and normalises its
// context ("context": null means no context, as leaving it out does).
func prepareTaskRequest(req *core.TaskRequest) error {
	if err := checkTaskRequest(req); err != nil {
		return err
	}
	if bytes.Equal(bytes.TrimSpace(req.Context), []byte("null")) {
		req.Context = nil
	}
	if len(req.Context) > 0 && !bytes.HasPrefix(bytes.TrimSpace(req.Context), []byte("{")) {
		return errors.New(`field "context" must be a JSON object`)
	}
	return nil
}

// creationProblem is the answer to a creation the engine refused; within
// names where in the body the request was (its violations' paths start
// there). An internal failure is logged, and answered without its cause.
func (s *Server) creationProblem(r *http.Request, err error, within string) Problem {
	var ctxErr *core.ContextError
	var reqErr *core.RequestError
	switch {
	case errors.Is(err, core.ErrNotFound):
		return Problem{Status: http.StatusNotFound, Detail: err.Error(), Instance: r.URL.Path}
	case errors.As(err, &ctxErr):
		for i := range ctxErr.Violations {
			ctxErr.Violations[i].Path = within + "/context" + ctxErr.Violations[i].Path
		}
		return Problem{Status: http.StatusBadRequest, Detail: err.Error(), Instance: r.URL.Path, Errors: ctxErr.Violations}
	case errors.As(err, &reqErr):
		return Problem{Status: http.StatusBadRequest, Detail: err.Error(), Instance: r.URL.Path}
	default:
		return s.internalProblem(r, err)
	}
}

// taskDoc is GET /tasks/{id}'s answer: the task, with its dependency
// analysis when ?include_dependencies=true asked for it.
type taskDoc struct {
	*core.Task
	Dependencies *dependencies `json:"dependencies,omitempty"`
}

// dependencies is the diagnostics of migration 0005 for one task.
type dependencies struct {
	ExecutionContext *store.TaskExecutionContext `json:"execution_context"`
	StepReadiness    []store.StepReadiness       `json:"step_readiness"`
	DependencyLevels []store.DependencyLevel     `json:"dependency_levels"`
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "task")
	if !ok {
		return
	}
	withDeps, ok := boolParam(w, r, "include_dependencies")
	if !ok {
		return
	}
	task, err := s.cfg.Store.GetTask(r.Context(), id)
	if s.storeError(w, r, err) {
		return
	}
	doc := taskDoc{Task: task}
	if withDeps {
		d := &dependencies{}
		if d.ExecutionContext, err = s.cfg.Store.TaskExecutionContext(r.Context(), id); s.storeError(w, r, err) {
			return
		}
		if d.StepReadiness, err = s.cfg.Store.StepReadiness(r.Context(), id); s.storeError(w, r, err) {
			return
		}
		if d.DependencyLevels, err = s.cfg.Store.DependencyLevels(r.Context(), id); s.storeError(w, r, err) {
			return
		}
		if d.StepReadiness == nil {
			d.StepReadiness = []store.StepReadiness{}
		}
		if d.DependencyLevels == nil {
			d.DependencyLevels = []store.DependencyLevel{}
		}
		doc.Dependencies = d
	}
	writeJSON(w, http.StatusOK, doc)
}

type taskList struct {
	Tasks  []core.Task `json:"tasks"`
	Total  int64       `json:"total"`
	Limit  int         `json:"limit"`
	Offset int         `json:"offset"`
}

// listTasks filters by status, namespace, name, version and tags (a task
// must carry every tag given, as tags=a,b or tags=a&tags=b), sorts by
// ?sort= (store.TaskSorts; newest first by default) and pages with
// limit/offset; total counts every match.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.TaskFilter{Status: q.Get("status"), Namespace: q.Get("namespace"), Name: q.Get("name"),
		Version: q.Get("version"), Sort: q.Get("sort"), Limit: 50}
	for _, v := range q["tags"] {
		for _, tag := range strings.Split(v, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				f.Tags = append(f.Tags, tag)
			}
		}
	}
	if f.Sort != "" && !slices.Contains(store.TaskSorts, f.Sort) {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("query parameter sort=%q: want one of %s", clip(f.Sort), strings.Join(store.TaskSorts, ", ")))
		return
	}
	if f.Status != "" && !slices.Contains(taskStatuses, f.Status) {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("query parameter status=%q: want one of %s", clip(f.Status), strings.Join(taskStatuses, ", ")))
		return
	}
	if err := checkListFilter(f); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	var ok bool
	if f.Limit, ok = intParam(w, r, "limit", f.Limit, 1, 1000); !ok {
		return
	}
	if f.Offset, ok = intParam(w, r, "offset", 0, 0, 1<<30); !ok {
		return
	}
	tasks, total, err := s.cfg.Store.ListTasks(r.Context(), f)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if tasks == nil {
		tasks = []core.Task{}
	}
	writeJSON(w, http.StatusOK, taskList{Tasks: tasks, Total: total, Limit: f.Limit, Offset: f.Offset})
}

var taskStatuses = []string{core.TaskStatusPending, core.TaskStatusInProgress, core.TaskStatusComplete,
	core.TaskStatusError, core.TaskStatusCancelled, core.TaskStatusResolvedManually}

// intParam reads an optional integer query parameter in [min, max].
func intParam(w http.ResponseWriter, r *http.Request, name string, def, min, max int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("query parameter %s=%q must be an integer from %d to %d", name, clip(v), min, max))
		return 0, false
	}
	return n, true
}

// checkListFilter applies the rules of template names, versions and tags
// to GET /tasks' filters.
func checkListFilter(f store.TaskFilter) error {
	if f.Namespace != "" {
		if err := checkIdent("query parameter namespace", f.Namespace); err != nil {
			return err
		}
	}
	if f.Name != "" {
		if err := checkIdent("query parameter name", f.Name); err != nil {
			return err
		}
	}
	if f.Version != "" {
		if err := checkVersion("query parameter version", f.Version); err != nil {
			return err
		}
	}
	if len(f.Tags) > maxTags {
		return fmt.Errorf("query parameter tags names %d tags; the limit is %d", len(f.Tags), maxTags)
	}
	for _, tag := range f.Tags {
		if err := checkTag("query parameter tags: tag", tag); err != nil {
			return err
		}
	}
	return nil
}

// errTooLarge marks a body over the limit, which is a 413, not a 400.
var errTooLarge = errors.New("request body too large")

// decode reads one JSON object into v, refusing unknown fields, trailing
// data, any other JSON value than an object and bodies over the limit, with
// a message naming the problem.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: the limit is %d bytes", errTooLarge, tooLarge.Limit)
	case err != nil:
		return fmt.Errorf("reading the request body: %v", err)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] != '{' {
		return errors.New("malformed request: the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		if dec.More() {
			return errors.New("malformed JSON: the body holds more than one JSON value")
		}
		return nil
	case errors.Is(err, io.EOF):
		return errors.New("malformed JSON: the request body is empty")
	case errors.As(err, &syntax):
		return fmt.Errorf("malformed JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typeErr):
		return fmt.Errorf("field %q must be %s, not JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	default:
		return fmt.Errorf("malformed JSON: %v", err)
	}
}

func statusOf(err error) int {
	if errors.Is(err, errTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	writeProblemDoc(w, s.internalProblem(r, err))
}

// internalProblem logs a failure of the server's own and answers it without
// its cause, which may name internals.
func (s *Server) internalProblem(r *http.Request, err error) Problem {
	s.cfg.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	return Problem{Status: http.StatusInternalServerError, Instance: r.URL.Path,
		Detail: "the server could not complete the request; its log has the cause"}
}
