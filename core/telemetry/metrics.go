package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Metrics records what the engine does, as OpenTelemetry instruments whose
// Prometheus names are:
//
//	tasker_tasks_created_total              tasks created
//	tasker_steps_started_total{handler}     step attempts started
//	tasker_steps_completed_total{handler}   attempts that succeeded
//	tasker_steps_failed_total{handler,kind} attempts that failed (kind retryable or permanent)
//	tasker_steps_retried_total{handler}     failed attempts that will run again
//	tasker_step_duration_seconds{handler}   how long handlers ran (histogram)
//	tasker_claim_duration_seconds           how long a claim of ready steps took (histogram)
//	tasker_steps_ready                      steps ready to run now: the queue depth (gauge)
//	tasker_plugins_healthy                  plugin processes up (gauge)
//
// Recording is a few atomic adds: the attribute sets of each handler are
// built once and reused. A nil *Metrics records nothing.
type Metrics struct {
	tasksCreated  metric.Int64Counter
	started       metric.Int64Counter
	completed     metric.Int64Counter
	failed        metric.Int64Counter
	retried       metric.Int64Counter
	stepDuration  metric.Float64Histogram
	claimDuration metric.Float64Histogram
	meter         metric.Meter

	handlers sync.Map // handler name -> *handlerAttrs
}

// handlerAttrs are the ready-made attribute options of one handler.
type handlerAttrs struct {
	handler, retryable, permanent metric.MeasurementOption
}

// NewMetrics creates the instruments on mp.
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	meter := mp.Meter("github.com/tasker-systems/tasker")
	m := &Metrics{meter: meter}
	var errs [7]error
	m.tasksCreated, errs[0] = meter.Int64Counter("tasker.tasks.created", metric.WithDescription("Tasks created."))
	m.started, errs[1] = meter.Int64Counter("tasker.steps.started", metric.WithDescription("Step attempts started."))
	m.completed, errs[2] = meter.Int64Counter("tasker.steps.completed", metric.WithDescription("Step attempts that succeeded."))
	m.failed, errs[3] = meter.Int64Counter("tasker.steps.failed",
		metric.WithDescription("Step attempts that failed, by kind of error (retryable or permanent)."))
	m.retried, errs[4] = meter.Int64Counter("tasker.steps.retried",
		metric.WithDescription("Failed step attempts that will be retried."))
	m.stepDuration, errs[5] = meter.Float64Histogram("tasker.step.duration", metric.WithUnit("s"),
		metric.WithDescription("How long step handlers ran, per attempt."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
	m.claimDuration, errs[6] = meter.Float64Histogram("tasker.claim.duration", metric.WithUnit("s"),
		metric.WithDescription("How long a claim of ready steps took."),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("telemetry: metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) attrs(handler string) *handlerAttrs {
	if a, ok := m.handlers.Load(handler); ok {
		return a.(*handlerAttrs)
	}
	h := attribute.String("handler", handler)
	a, _ := m.handlers.LoadOrStore(handler, &handlerAttrs{
		handler:   metric.WithAttributeSet(attribute.NewSet(h)),
		retryable: metric.WithAttributeSet(attribute.NewSet(h, attribute.String("kind", "retryable"))),
		permanent: metric.WithAttributeSet(attribute.NewSet(h, attribute.String("kind", "permanent"))),
	})
	return a.(*handlerAttrs)
}

// TaskCreated counts a new task.
func (m *Metrics) TaskCreated(ctx context.Context) {
	if m != nil {
		m.tasksCreated.Add(ctx, 1)
	}
}

// Claimed records how long a claim took.
func (m *Metrics) Claimed(ctx context.Context, d time.Duration) {
	if m != nil {
		m.claimDuration.Record(ctx, d.Seconds())
	}
}

// StepStarted counts an attempt about to run its handler.
func (m *Metrics) StepStarted(ctx context.Context, handler string) {
	if m != nil {
		m.started.Add(ctx, 1, m.attrs(handler).handler)
	}
}

// StepCompleted records an attempt that succeeded after d.
func (m *Metrics) StepCompleted(ctx context.Context, handler string, d time.Duration) {
	if m != nil {
		a := m.attrs(handler)
		m.completed.Add(ctx, 1, a.handler)
		m.stepDuration.Record(ctx, d.Seconds(), a.handler)
	}
}

// StepFailed records an attempt that failed after d, permanently or not,
// and whether the step will run again.
func (m *Metrics) StepFailed(ctx context.Context, handler string, permanent, retried bool, d time.Duration) {
	if m == nil {
		return
	}
	a := m.attrs(handler)
	kind := a.retryable
	if permanent {
		kind = a.permanent
	}
	m.failed.Add(ctx, 1, kind)
	if retried {
		m.retried.Add(ctx, 1, a.handler)
	}
	m.stepDuration.Record(ctx, d.Seconds(), a.handler)
}

// ObserveReady publishes the queue depth, read by count at most once per
// minInterval (a scrape in between gets the last value); a read that fails
// publishes nothing.
func (m *Metrics) ObserveReady(minInterval time.Duration, count func(context.Context) (int64, error)) error {
	var mu sync.Mutex
	var last int64
	var at time.Time
	_, err := m.meter.Int64ObservableGauge("tasker.steps.ready",
		metric.WithDescription("Steps ready to run now (the queue depth)."),
		metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
			mu.Lock()
			defer mu.Unlock()
			if at.IsZero() || time.Since(at) >= minInterval {
				ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				n, err := count(ctx)
				if err != nil {
					return err
				}
				last, at = n, time.Now()
			}
			o.Observe(last)
			return nil
		}))
	return err
}

// ObservePlugins publishes how many plugin processes are up.
func (m *Metrics) ObservePlugins(healthy func() int64) error {
	_, err := m.meter.Int64ObservableGauge("tasker.plugins.healthy",
		metric.WithDescription("Plugin processes up and answering."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(healthy())
			return nil
		}))
	return err
}

// Prometheus is a meter provider whose metrics are read through Handler, in
// the Prometheus text format, together with the Go runtime's and the
// process's.
type Prometheus struct {
	Provider *sdkmetric.MeterProvider
	Handler  http.Handler
}

// NewPrometheus builds the provider and its HTTP handler.
func NewPrometheus() (*Prometheus, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	return &Prometheus{
		Provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		Handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}, nil
}
