"""Interop tests: real third-party STOMP clients (stomp.py, STOMP.js in Node and in Chromium)."""
