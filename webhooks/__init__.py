"""Signed webhooks: endpoints per owner, a durable outbox in the catalog, deliveries by a worker task.

events.py    event types and the message envelope (pure)
signing.py   Standard Webhooks secrets and signatures (pure)
backoff.py   when to retry a failed delivery, and when to give up (pure)
targets.py   which URLs may be called: SSRF checks over every resolved address
models.py    catalog tables: endpoints, deliveries (the outbox), attempts
outbox.py    record(session, owner, type, data): called in the transaction of the state change
delivery.py  claim due deliveries, send them, record the outcome
sender.py    the HTTP call (httpx, pinned to the checked address)
api.py       POST/GET/DELETE /webhooks and GET /webhooks/{id}/deliveries on the ingest API
tasks.py     the Celery task and beat entry on the light queue
"""
