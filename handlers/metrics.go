package handlers

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
}

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
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chat_http_requests_total", Help: "HTTP requests by route template and status."},
			[]string{"method", "route", "status"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "chat_http_request_duration_seconds",
			Help: "HTTP request latency by route template; the stream route is left out.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)},
			[]string{"method", "route"}),
	}
	r.MustRegister(m.OpenStreams, m.Published, m.Delivered, m.SlowDrops, m.PublishErrors, m.requests, m.requestSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
