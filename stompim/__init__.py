"""stompim: a STOMP broker and instant-messaging backend for Spring-style STOMP front ends."""

__version__ = "0.1.0"
__all__ = ["__version__"]
