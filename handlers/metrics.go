package handlers

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/resonate/resonate-chat/handlers/webhook"
	"github.com/resonate/resonate-chat/models"
)

// Metrics are the server's Prometheus metrics, on a registry of their own so
// that two servers in one process (tests) never share counters.
type Metrics struct {
	Registry       *prometheus.Registry
	OpenStreams    prometheus.Gauge
	Published      prometheus.Counter
	Delivered      prometheus.Counter
	SlowDrops      prometheus.Counter
	PublishErrors  prometheus.Counter
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	sendSeconds    *prometheus.HistogramVec
	storeSeconds   *prometheus.HistogramVec
	commitSeconds  prometheus.Histogram
	commitWrites   prometheus.Histogram
	webhooks       *prometheus.CounterVec
	outboxDepth    prometheus.Gauge
	outboxAge      prometheus.Gauge
}

// latencyBuckets run from 100 µs to 3.3 s: a send is a fraction of a
// millisecond when all is well, seconds when the database is in trouble.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16)

// NewMetrics registers the metrics and Go's runtime collectors.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry:      r,
		OpenStreams:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "chat_open_streams", Help: "SSE streams open now."}),
		Published:     prometheus.NewCounter(prometheus.CounterOpts{Name: "chat_events_published_total", Help: "Room events handed to the broadcaster after commit."}),
		Delivered:     prometheus.NewCounter(prometheus.CounterOpts{Name: "chat_events_delivered_total", Help: "Room events written to streams, replays included."}),
		SlowDrops:     prometheus.NewCounter(prometheus.CounterOpts{Name: "chat_slow_subscriber_disconnects_total", Help: "Streams ended because they fell behind."}),
		PublishErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "chat_publish_errors_total", Help: "Events the broadcaster refused; clients recover them by Last-Event-ID."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chat_http_requests_total", Help: "HTTP requests by route template and status; 499 is a request whose client went away first, to which nothing was written."},
			[]string{"method", "route", "status"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "chat_http_request_duration_seconds",
			Help: "HTTP request latency by route template; the stream route is left out.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)},
			[]string{"method", "route"}),
		sendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "chat_send_duration_seconds",
			Help: "Sends, from the use case's call to its outcome (accepted, refused, failed).", Buckets: latencyBuckets},
			[]string{"outcome"}),
		storeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "chat_store_duration_seconds",
			Help: "Store transactions of the use cases by op (write: waiting for the SQLite writer included; read).", Buckets: latencyBuckets},
			[]string{"op"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "chat_store_group_commit_duration_seconds",
			Help: "Transactions of the SQLite writer, BEGIN to COMMIT.", Buckets: latencyBuckets}),
		commitWrites: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "chat_store_group_commit_writes",
			Help: "Writes sharing one transaction of the SQLite writer.", Buckets: prometheus.ExponentialBuckets(1, 2, 8)}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chat_webhook_deliveries_total",
			Help: "Webhook delivery attempts of this node by outcome: delivered (2xx), failed (retried later), gave_up (dropped after a day)."},
			[]string{"outcome"}),
		outboxDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chat_webhook_outbox_depth",
			Help: "Notifications waiting in the outbox (all nodes'), as this node's sender last looked."}),
		outboxAge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chat_webhook_outbox_oldest_age_seconds",
			Help: "Age of the oldest notification waiting in the outbox; 0 when none waits."}),
	}
	r.MustRegister(m.OpenStreams, m.Published, m.Delivered, m.SlowDrops, m.PublishErrors, m.requests, m.requestSeconds,
		m.sendSeconds, m.storeSeconds, m.commitSeconds, m.commitWrites, m.webhooks, m.outboxDepth, m.outboxAge,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{webhook.OutcomeDelivered, webhook.OutcomeFailed, webhook.OutcomeGaveUp} {
		m.webhooks.WithLabelValues(o) // every outcome present from the start, at 0
	}
	return m
}

// observe counts requests by route template (never the raw path, which
// would make a series per room).
func (m *Metrics) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).Inc()
	if route != streamRoute {
		m.requestSeconds.WithLabelValues(c.Request.Method, route).Observe(time.Since(start).Seconds())
	}
}

var _ models.Observer = (*Metrics)(nil)

// SendDone implements models.Observer.
func (m *Metrics) SendDone(d time.Duration, outcome string) {
	m.sendSeconds.WithLabelValues(outcome).Observe(d.Seconds())
}

// StoreDone implements models.Observer.
func (m *Metrics) StoreDone(op string, d time.Duration) {
	m.storeSeconds.WithLabelValues(op).Observe(d.Seconds())
}

// GroupCommit implements models.Observer.
func (m *Metrics) GroupCommit(d time.Duration, writes int) {
	m.commitSeconds.Observe(d.Seconds())
	m.commitWrites.Observe(float64(writes))
}

var _ webhook.Observer = (*Metrics)(nil)

// WebhookDelivery implements webhook.Observer.
func (m *Metrics) WebhookDelivery(outcome string) { m.webhooks.WithLabelValues(outcome).Inc() }

// WebhookOutbox implements webhook.Observer.
func (m *Metrics) WebhookOutbox(depth int64, oldestAge time.Duration) {
	m.outboxDepth.Set(float64(depth))
	m.outboxAge.Set(oldestAge.Seconds())
}
