"""Live delivery, a side door of the product: the socket consumer and its authentication
(`consumers`, `auth`, `routing`) and the publishing of events after commit (`publishing`).
Nothing here knows the API or the pages; payloads are plain dicts (`messaging.payloads`)."""
