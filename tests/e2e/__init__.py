"""End-to-end acceptance: real clients (stomp.py, STOMP.js) against a whole node.

Every flow runs on both deployments."""
