"""The JSON shapes of the native API, declared once as pydantic models, one module per
domain: request bodies (checked by api/bodies.py as they come in), query parameters
and success bodies. api/openapi.py generates the OpenAPI document from them and the
routes (through spectree); tests/api/test_openapi.py checks the answers against it."""
