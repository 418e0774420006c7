"""Glue to the world outside: diffusers' pipeline listener, regional scope, context parallelism, Dynamo metadata."""
