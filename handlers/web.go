package handlers

import (
	"bytes"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/resonate/resonate-chat/handlers/identity"
	"github.com/resonate/resonate-chat/models"
	"github.com/resonate/resonate-chat/web"
)

// pageCSP confines the demo page to its own script, style and API: even a
// message that slipped into the DOM as HTML could run nothing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// devTokenTTL is the life of a development token: a demo session. The page
// fetches a new one when the stream says auth.expired.
const devTokenTTL = time.Hour

// devTokenRequest asks the development endpoint for a token.
type devTokenRequest struct {
	Sub  string `json:"sub"`
	Name string `json:"name"`
}

// devToken is the development endpoint's answer.
type devToken struct {
	Token     string `json:"token"`
	ExpiresAt string `json:"expires_at"`
}

// registerWeb serves the demo page at /, the OpenAPI 3 document at
// /openapi.json and, with a dev signer (--dev), POST /dev/token.
func registerWeb(r *gin.Engine, d Deps) {
	index, err := fs.ReadFile(web.Files, "index.html")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	if d.DevSigner != nil {
		index = bytes.Replace(index, []byte(`<body data-dev="false">`), []byte(`<body data-dev="true">`), 1)
	}
	r.GET("/", func(c *gin.Context) {
		c.Header("Content-Security-Policy", pageCSP)
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, "text/html; charset=utf-8", index)
	})
	for name, ctype := range map[string]string{"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"} {
		body, err := fs.ReadFile(web.Files, name)
		if err != nil {
			panic(err)
		}
		r.GET("/"+name, func(c *gin.Context) {
			c.Header("Cache-Control", "no-cache")
			c.Data(http.StatusOK, ctype, body)
		})
	}

	spec, err := OpenAPI()
	if err != nil {
		d.Log.Error("the OpenAPI 3 document cannot be built; /openapi.json answers 500", "err", err)
	}
	r.GET("/openapi.json", func(c *gin.Context) {
		if err != nil {
			fail(c, err)
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", spec)
	})

	if d.DevSigner != nil {
		d.Log.Warn("DEVELOPMENT MODE (--dev): POST /dev/token signs a token for anyone who asks. " +
			"Never run a reachable server like this.")
		r.POST("/dev/token", issueDevToken(d.DevSigner, d.Log))
	}
}

// issueDevToken signs a token for any sub and name: the demo page's sign-in
// when the server runs with --dev. It exists in no other mode.
func issueDevToken(signer *identity.HS256, log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req devTokenRequest
		if err := bind(c, &req); err != nil {
			fail(c, err)
			return
		}
		switch {
		case req.Sub == "" || len([]rune(req.Sub)) > identity.MaxUserIDLength || models.ValidUserID(req.Sub) != nil:
			fail(c, models.Invalidf("sub must be a user id of 1–%d characters", identity.MaxUserIDLength))
			return
		case len([]rune(req.Name)) > 200:
			fail(c, models.Invalidf("name must be at most 200 characters"))
			return
		}
		exp := time.Now().Add(devTokenTTL)
		tok, err := signer.Sign(req.Sub, req.Name, false, devTokenTTL)
		if err != nil {
			fail(c, err)
			return
		}
		log.Warn("issued a development token", "sub", req.Sub)
		c.JSON(http.StatusCreated, devToken{Token: tok, ExpiresAt: exp.UTC().Format(time.RFC3339)})
	}
}
