package handlers

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	swaggerFiles "github.com/swaggo/files"
	ginSwagger "github.com/swaggo/gin-swagger"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/models"
)

// Exposure says whether, and where, the operational routes are served. The
// zero value serves /metrics and Swagger UI on the public router, as a
// laptop wants; a public deployment turns them off or moves them.
type Exposure struct {
	// NoMetrics turns /metrics off (CHAT_METRICS=off).
	NoMetrics bool
	// NoSwagger turns Swagger UI, /swagger/, off (CHAT_SWAGGER=off).
	NoSwagger bool
	// Internal moves /metrics and /swagger/ to Server.Internal, which also
	// serves /debug/pprof/ and /healthz, for a listener only operators reach
	// (CHAT_INTERNAL_ADDR). Without it /debug/pprof/ is served nowhere.
	Internal bool
}

// exposeOps mounts the operational routes where d.Exposure says and returns
// the internal handler, nil when there is none.
func exposeOps(public *gin.Engine, d Deps) http.Handler {
	target := public
	var internal *gin.Engine
	if d.Exposure.Internal {
		internal = gin.New()
		internal.Use(requestLog(d.Log), recovery(), securityHeaders)
		internal.NoRoute(func(c *gin.Context) { fail(c, models.WithDetail(models.ErrNotFound, "no such path")) })
		internal.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, api.Health{Status: "ok"}) })
		internal.GET("/debug/pprof/*name", debugPprof)
		target = internal
	}
	if !d.Exposure.NoMetrics {
		target.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{})))
	}
	if !d.Exposure.NoSwagger {
		target.GET("/swagger/*any", ginSwagger.WrapHandler(swaggerFiles.Handler, ginSwagger.PersistAuthorization(true)))
	}
	if internal == nil {
		return nil
	}
	return internal
}

// debugPprof serves net/http/pprof under /debug/pprof/ on the internal
// listener only: profiles show memory contents and cost CPU.
func debugPprof(c *gin.Context) {
	switch strings.TrimPrefix(c.Param("name"), "/") {
	case "cmdline":
		pprof.Cmdline(c.Writer, c.Request)
	case "profile":
		pprof.Profile(c.Writer, c.Request)
	case "symbol":
		pprof.Symbol(c.Writer, c.Request)
	case "trace":
		pprof.Trace(c.Writer, c.Request)
	default:
		pprof.Index(c.Writer, c.Request)
	}
}
