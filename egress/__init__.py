"""Outbound requests to URLs that users give us (webhook receivers, import sources): the SSRF guard."""
