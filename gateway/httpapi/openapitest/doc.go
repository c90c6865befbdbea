// Package openapitest checks real requests, responses and examples against the
// gateway's merged OpenAPI 3.1 document, whose schemas are JSON Schema 2020-12
// (validated with santhosh-tekuri/jsonschema). For tests only.
package openapitest
