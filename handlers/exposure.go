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
		ui := swaggerUI()
		target.GET("/swagger", ui)
		target.GET("/swagger/*any", ui)
	}
	if internal == nil {
		return nil
	}
	return internal
}

// swaggerUIFiles are the files Swagger UI is made of: gin-swagger serves these
// and answers anything else with a plain-text 404.
var swaggerUIFiles = map[string]bool{
	"index.html": true, "index.css": true, "swagger-initializer.js": true, "doc.json": true,
	"favicon-16x16.png": true, "favicon-32x32.png": true, "oauth2-redirect.html": true,
	"swagger-ui.css": true, "swagger-ui.css.map": true, "swagger-ui.js": true, "swagger-ui.js.map": true,
	"swagger-ui-bundle.js": true, "swagger-ui-bundle.js.map": true,
	"swagger-ui-standalone-preset.js": true, "swagger-ui-standalone-preset.js.map": true,
}

// swaggerUI serves Swagger UI under /swagger/: /swagger and /swagger/ lead to
// the page itself, its files are gin-swagger's, and any other path is the
// problem+json 404 every unknown path gets.
func swaggerUI() gin.HandlerFunc {
	// A file handler of its own: gin-swagger sets the handler's prefix on
	// first use, and swaggerFiles.Handler is shared by every server in the
	// process.
	serve := ginSwagger.WrapHandler(swaggerFiles.NewHandler(), ginSwagger.PersistAuthorization(true))
	return func(c *gin.Context) {
		switch name := strings.TrimPrefix(c.Param("any"), "/"); {
		case name == "":
			c.Redirect(http.StatusFound, "/swagger/index.html")
		case name == "doc.json": // gin-swagger would read it through swag's racy ReadDoc
			c.Data(http.StatusOK, "application/json; charset=utf-8", []byte(swaggerDoc()))
		case swaggerUIFiles[name]:
			// gin-swagger finds the file by a regular expression on the raw
			// request URI, query included; give it the path alone.
			c.Request.RequestURI = c.Request.URL.EscapedPath()
			serve(c)
		default:
			fail(c, models.WithDetail(models.ErrNotFound, "no such path"))
		}
	}
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
