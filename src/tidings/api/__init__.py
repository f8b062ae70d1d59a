"""The HTTP API: FastAPI app factory, middleware, native routes and the dialect routers."""
