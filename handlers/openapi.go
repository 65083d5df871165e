package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
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

// swaggerDoc is swag's Swagger 2.0 document, read once per process: swag's
// ReadDoc rewrites a field of the shared docs.SwaggerInfo on every call, so
// two calls at once would race.
var swaggerDoc = sync.OnceValue(docs.SwaggerInfo.ReadDoc)

// convertOpenAPI converts the swag document with kin-openapi's openapi2conv,
// then corrects what Swagger 2.0 (or swag) cannot say:
//   - problem responses are application/problem+json, not the operation's
//     application/json (Swagger 2.0 has one "produces" list per operation);
//   - the Bearer scheme is an HTTP bearer scheme (Swagger 2.0 can only say
//     "an apiKey in the Authorization header");
//   - x-nullable becomes nullable;
//   - how to authorize: Swagger UI on the Swagger 2.0 document needs
//     "Bearer <token>" (an apiKey is sent as typed), while OpenAPI 3 tools
//     take the token alone and add the prefix themselves.
//
// The result is validated before it is served.
func convertOpenAPI() ([]byte, error) {
	var v2 openapi2.T
	if err := json.Unmarshal([]byte(swaggerDoc()), &v2); err != nil {
		return nil, fmt.Errorf("openapi: read the swag document: %w", err)
	}
	doc, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, fmt.Errorf("openapi: convert to 3.0: %w", err)
	}
	problemContent(doc)
	if err := describeBearer(doc); err != nil {
		return nil, err
	}
	bearer := openapi3.NewJWTSecurityScheme()
	bearer.Description = openAPIBearer
	doc.Components.SecuritySchemes["Bearer"] = &openapi3.SecuritySchemeRef{Value: bearer}
	nullable(doc)
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: the converted document is invalid: %w", err)
	}
	return encodeReadable(doc)
}

// encodeReadable writes doc indented and without HTML escaping, so that
// "<token>" in a description reads as that. openapi3's MarshalJSON escapes
// inside, so the document goes through a generic value once more.
func encodeReadable(doc *openapi3.T) ([]byte, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// swaggerUIAuth starts the part of the API description (main.go's @description)
// that holds only for Swagger UI on the Swagger 2.0 document.
const swaggerUIAuth = " In Swagger UI: press Authorize and enter `Bearer <token>`"

// openAPIBearer says how to authorize with the OpenAPI 3 document.
const openAPIBearer = "A JWT, given alone, without a \"Bearer \" prefix: this is an HTTP bearer scheme, so the tools " +
	"that read this document (OpenAPI 3 viewers, Postman, generated clients) send `Authorization: Bearer <token>` themselves."

// describeBearer replaces the Swagger-UI-only part of the API description with
// what holds for this document.
func describeBearer(doc *openapi3.T) error {
	i := strings.Index(doc.Info.Description, swaggerUIAuth)
	if i < 0 {
		return fmt.Errorf("openapi: the API description no longer holds %q: update describeBearer", swaggerUIAuth)
	}
	doc.Info.Description = doc.Info.Description[:i] + " Authorize with the token alone: the Bearer scheme adds the prefix. " +
		"The same API as Swagger 2.0, with Swagger UI: /swagger/index.html."
	return nil
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
