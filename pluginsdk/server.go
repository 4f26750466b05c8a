package pluginsdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"runtime/debug"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tasker-systems/tasker/pluginsdk/proto/pluginv1"
	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// server implements the HandlerPlugin gRPC service inside the plugin
// process. A handler's failure is returned in ExecuteResponse.Error, never
// as a gRPC status.
type server struct {
	pluginv1.UnimplementedHandlerPluginServer

	p    Plugin
	info *pluginv1.InfoResponse
}

// newServer validates p and reads its templates once.
func newServer(p Plugin) (*server, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	templates, err := readTemplates(p.Templates)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: reading templates: %w", p.Name, err)
	}
	names := make([]string, 0, len(p.Handlers))
	for name := range p.Handlers {
		names = append(names, name)
	}
	slices.Sort(names)
	info := &pluginv1.InfoResponse{Name: p.Name, Version: p.Version, Templates: templates}
	for _, name := range names {
		info.Handlers = append(info.Handlers, &pluginv1.HandlerInfo{Name: name, MaxConcurrency: int32(p.MaxConcurrency[name])})
	}
	for _, sub := range p.Subscriptions {
		info.Subscriptions = append(info.Subscriptions, &pluginv1.Subscription{Name: sub.Name, Events: sub.Events})
	}
	return &server{p: p, info: info}, nil
}

// readTemplates returns every *.yaml / *.yml file of fsys, in lexical order,
// named by its slash-separated path within fsys.
func readTemplates(fsys fs.FS) ([]*pluginv1.Template, error) {
	if fsys == nil {
		return nil, nil
	}
	var out []*pluginv1.Template
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if ext := path.Ext(p); ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		out = append(out, &pluginv1.Template{FileName: p, Yaml: data})
		return nil
	})
	return out, err
}

// Info describes the plugin.
func (s *server) Info(context.Context, *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	return s.info, nil
}

// Execute runs one attempt of one step.
func (s *server) Execute(ctx context.Context, in *pluginv1.ExecuteRequest) (*pluginv1.ExecuteResponse, error) {
	h, ok := s.p.Handlers[in.GetHandler()]
	if !ok {
		names := make([]string, 0, len(s.info.Handlers))
		for _, hi := range s.info.Handlers {
			names = append(names, hi.GetName())
		}
		return failure(Permanent(fmt.Errorf("plugin %s v%s has no handler %q (it has: %s)",
			s.p.Name, s.p.Version, in.GetHandler(), strings.Join(names, ", ")))), nil
	}
	data, events, err := InvokeWithEvents(wire.ExtractTrace(ctx), h, requestFromProto(in))
	if err != nil {
		return failure(err), nil
	}
	resp := &pluginv1.ExecuteResponse{ResultsJson: data}
	for _, e := range events {
		resp.Events = append(resp.Events, &pluginv1.PublishedEvent{Name: e.Name, PayloadJson: e.Payload})
	}
	return resp, nil
}

// DeliverEvents hands a batch to one of the plugin's subscriptions. Its
// failure (or panic) is a gRPC error, which the host takes as "not
// delivered".
func (s *server) DeliverEvents(ctx context.Context, in *pluginv1.DeliverEventsRequest) (*pluginv1.DeliverEventsResponse, error) {
	i := slices.IndexFunc(s.p.Subscriptions, func(sub Subscription) bool { return sub.Name == in.GetSubscription() })
	if i < 0 {
		return nil, status.Errorf(codes.NotFound, "plugin %s v%s has no subscription %q", s.p.Name, s.p.Version, in.GetSubscription())
	}
	batch := make([]Event, 0, len(in.GetEvents()))
	for _, e := range in.GetEvents() {
		batch = append(batch, eventFromProto(e))
	}
	if len(batch) == 0 {
		return &pluginv1.DeliverEventsResponse{}, nil
	}
	if err := deliverBatch(wire.ExtractTrace(ctx), s.p.Subscriptions[i], batch); err != nil {
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return &pluginv1.DeliverEventsResponse{}, nil
}

// eventFromProto converts a delivered event.
func eventFromProto(e *pluginv1.Event) Event {
	out := Event{
		ID: e.GetId(), Name: e.GetName(), TaskID: e.GetTaskId(), StepID: e.GetStepId(),
		CorrelationID: e.GetCorrelationId(), Payload: orNull(e.GetPayloadJson()),
	}
	if ts := e.GetCreatedAt(); ts != nil {
		out.CreatedAt = ts.AsTime()
	}
	return out
}

// run calls h, turning a panic into a retryable error that names it; the
// stack goes to the plugin's log.
func run(ctx context.Context, h Handler, req Request) (result any, err error) {
	defer func() {
		if v := recover(); v != nil {
			Logger(ctx).Error("handler panicked", slog.String("handler", req.Handler),
				slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			result, err = nil, Retryable(fmt.Errorf("handler %q panicked: %v", req.Handler, v))
		}
	}()
	return h(ctx, req)
}

// failure encodes a handler error for the host.
func failure(err error) *pluginv1.ExecuteResponse {
	permanent, retryAfter := classify(err)
	kind := pluginv1.StepError_KIND_RETRYABLE
	if permanent {
		kind = pluginv1.StepError_KIND_PERMANENT
	}
	return &pluginv1.ExecuteResponse{Error: &pluginv1.StepError{
		Kind:         kind,
		Message:      err.Error(),
		RetryAfterMs: retryAfter.Milliseconds(),
	}}
}

// requestFromProto converts the wire request into the handler's Request.
func requestFromProto(in *pluginv1.ExecuteRequest) Request {
	deps := make(map[string]json.RawMessage, len(in.GetDependencyResultsJson()))
	for name, raw := range in.GetDependencyResultsJson() {
		deps[name] = json.RawMessage(raw)
	}
	return Request{
		TaskID:            in.GetTaskId(),
		StepID:            in.GetStepId(),
		StepName:          in.GetStepName(),
		Handler:           in.GetHandler(),
		Namespace:         in.GetNamespace(),
		TaskName:          in.GetTaskName(),
		TaskVersion:       in.GetTaskVersion(),
		Attempt:           int(in.GetAttempt()),
		Context:           orNull(in.GetContextJson()),
		HandlerConfig:     orNull(in.GetHandlerConfigJson()),
		DependencyResults: deps,
		Inputs:            orNull(in.GetInputsJson()),
	}
}

// orNull returns raw, or JSON null when it is empty.
func orNull(raw []byte) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(raw)
}
