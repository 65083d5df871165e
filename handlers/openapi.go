package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/resonate/resonate-chat/api"
	"github.com/resonate/resonate-chat/docs"
)

// problemSchemaRef is where the converted document keeps the problem type.
const problemSchemaRef = "#/components/schemas/api.Problem"

// OpenAPI returns the OpenAPI 3.0 document served at /openapi.json, as JSON.
// It is converted from swag's Swagger 2.0 output (docs/swagger.json) once per
// process: the generated spec stays the single source, and the conversion is
// cheap enough that nothing needs to be committed twice.
func OpenAPI() ([]byte, error) { return openAPIOnce() }

// openAPIOnce holds the converted document: computed on first use, read-only
// after.
var openAPIOnce = sync.OnceValues(convertOpenAPI)

// convertOpenAPI converts the swag document with kin-openapi's openapi2conv,
// then corrects what Swagger 2.0 (or swag) cannot say:
//   - problem responses are application/problem+json, not the operation's
//     application/json (Swagger 2.0 has one "produces" list per operation);
//   - the Bearer scheme is an HTTP bearer scheme (Swagger 2.0 can only say
//     "an apiKey in the Authorization header");
//   - x-nullable becomes nullable.
//
// The result is validated before it is served.
func convertOpenAPI() ([]byte, error) {
	var v2 openapi2.T
	if err := json.Unmarshal([]byte(docs.SwaggerInfo.ReadDoc()), &v2); err != nil {
		return nil, fmt.Errorf("openapi: read the swag document: %w", err)
	}
	doc, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, fmt.Errorf("openapi: convert to 3.0: %w", err)
	}
	problemContent(doc)
	bearer := openapi3.NewJWTSecurityScheme()
	bearer.Description = "A JWT: press Authorize and paste the token alone (no \"Bearer \" prefix)."
	doc.Components.SecuritySchemes["Bearer"] = &openapi3.SecuritySchemeRef{Value: bearer}
	nullable(doc)
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: the converted document is invalid: %w", err)
	}
	return json.MarshalIndent(doc, "", "  ")
}

// problemContent gives every response whose body is a problem document the
// media type the server sends with it.
func problemContent(doc *openapi3.T) {
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				for _, mt := range resp.Value.Content {
					if mt.Schema != nil && mt.Schema.Ref == problemSchemaRef {
						resp.Value.Content = openapi3.NewContentWithSchemaRef(mt.Schema, []string{api.ProblemContentType})
						break
					}
				}
			}
		}
	}
}

// nullable turns any x-nullable the converter left on a property into
// nullable: true (openapi2conv converts them today; this keeps it so).
func nullable(doc *openapi3.T) {
	for _, schema := range doc.Components.Schemas {
		for _, p := range schema.Value.Properties {
			if v, ok := p.Value.Extensions["x-nullable"]; ok {
				p.Value.Nullable = v == true
				delete(p.Value.Extensions, "x-nullable")
			}
		}
	}
}
